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
