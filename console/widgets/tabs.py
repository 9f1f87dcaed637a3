"""The desk's screens as the banner's tab bar names them, and the key that reaches each."""

from __future__ import annotations

SCREEN_TITLES = {
    "dashboard": "Dashboard",
    "liquidations": "Liquidations",
    "maintenance": "Maintenance",
    "snapshots": "Snapshots",
    "refunds": "Refunds",
    "audit": "Audit log",
    "accounts": "Accounts",
    "alerts": "Alerts",
}
#: screens reached by a key but not listed in the tab bar (no room for them at 80 columns)
EXTRA_SCREENS = {"book": ("b", "Book")}
SHORT_TITLES = {"dashboard": "Dash", "liquidations": "Liqs", "maintenance": "Maint", "snapshots": "Snaps",
                "refunds": "Refunds", "audit": "Audit", "accounts": "Accts", "alerts": "Alerts"}
SCREEN_KEYS = {"dashboard": "d", "liquidations": "l", "maintenance": "m", "snapshots": "s",
               "refunds": "r", "audit": "a", "accounts": "c", "alerts": "t"}


def own_bindings(cls: type) -> list:
    """The key bindings perpdesk itself declares on ``cls`` and its perpdesk base classes (not Textual's
    own: a Screen's Tab / Shift+Tab focus moves, copy-selected-text), in declaration order."""
    out: list = []
    for c in reversed(cls.__mro__):
        if c.__module__.split(".")[0] in ("console", "tests"):
            out.extend(c.__dict__.get("BINDINGS", ()))
    return out
