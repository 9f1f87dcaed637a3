"""The console's desk screens, one per module (their dialogs are in console/modals/)."""
