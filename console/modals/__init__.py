"""The console's dialogs, one per module; ConfirmDialog (confirm.py) is the one confirm/reason dialog."""
