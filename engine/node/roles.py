"""Operators and roles: who may issue which operator command.

viewer < operator < approver < admin. User and market-data commands come from
the venue's own services (API gateway, simulator, feeds) as the ``system``
actor; operator commands carry the operator's name and are checked here.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from ..core.commands import OPERATOR_COMMANDS

ROLES = ("viewer", "operator", "approver", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}

#: the least role that may issue each operator command (and node actions)
REQUIRED_ROLE = {
    "emergency_brake": "operator",
    "take_snapshot": "operator",
    "schedule_maintenance": "operator",
    "pause_liquidations": "operator",
    "resume_liquidations": "operator",
    "pause_triggers": "operator",
    "resume_triggers": "operator",
    "set_market_mode": "operator",
    "set_platform_access": "operator",
    "set_safeguards": "operator",  # turning them back on; turning them off is disable_safeguards
    "set_market_params": "operator",
    "propose_refund": "operator",
    # operator controls: maintenance windows, the withdrawals pause, per-account actions
    "cancel_maintenance": "operator",
    "reschedule_maintenance": "operator",
    "extend_maintenance": "operator",
    "set_withdrawals": "operator",
    "set_account_mode": "operator",
    "cancel_account_orders": "operator",
    "release_brake": "approver",
    "rollback": "approver",
    "credit": "approver",
    "decide_refund": "approver",
    "pay_refund": "approver",
    "accept_oracle_price": "approver",  # an oracle price the guard rails held, accepted by hand
    "disable_safeguards": "approver",  # set_safeguards with enabled: false
    "override_gate": "approver",  # release_brake / set_market_mode open with override: true
    "create_market": "admin",
    "fund_insurance": "admin",
}
assert OPERATOR_COMMANDS <= set(REQUIRED_ROLE)


@dataclass(frozen=True)
class Actor:
    name: str
    role: str

    def may(self, action: str) -> bool:
        need = REQUIRED_ROLE.get(action)
        return need is None or _RANK.get(self.role, -1) >= _RANK[need]


SYSTEM = Actor("system", "admin")


def actions_of(ctype: str, cmd: dict) -> tuple[str, ...]:
    """Every action a command needs a role for: its type, plus a stronger one for some of its forms."""
    out = [ctype]
    if cmd.get("override") is True:
        out.append("override_gate")
    if ctype == "set_safeguards" and cmd.get("enabled") is not True:
        out.append("disable_safeguards")
    return tuple(out)


def default_actor(name: str | None = None, role: str | None = None) -> Actor:
    """Identity from arguments, else PERPDESK_OPERATOR / PERPDESK_ROLE, else the OS user as admin
    of the local sandbox venue."""
    name = name or os.environ.get("PERPDESK_OPERATOR") or _os_user()
    role = role or os.environ.get("PERPDESK_ROLE") or "admin"
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return Actor(name, role)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"
