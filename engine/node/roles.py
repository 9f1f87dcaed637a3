"""Operators and roles: who may issue which command, of every kind.

viewer < operator < approver < admin are the roles an operator can hold. Above them is the venue's
own ``system`` actor (:data:`SYSTEM`: the simulator, price feeds, the clock, the refund desk inside
the node): the only one that may send user commands, market data and the clock, and the only one
that may send a ``credit`` (the refund desk, after checking the approved refund record). No operator
can hold the ``system`` role and no token maps to it: :meth:`Actor.may` grants it to the very
object :data:`SYSTEM` only.

Every command type of ``engine/core/commands.py`` has a kind (:data:`COMMAND_KINDS`): ``user``,
``market_data``, ``clock``, ``operator`` or ``node_action``; :data:`REQUIRED_ROLE` gives the least
role for each command and node action (``system`` for the system-only ones).
"""

from __future__ import annotations

import getpass
import os
import unicodedata
from dataclasses import dataclass

from ..core.commands import ALL_COMMANDS, MARKET_DATA_COMMANDS, USER_COMMANDS

#: the roles an operator can hold, weakest first
ROLES = ("viewer", "operator", "approver", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}
#: the venue's own services' role: above admin, held by SYSTEM only (never by an operator or a token)
SYSTEM_ROLE = "system"

# ---- command kinds ------------------------------------------------------------------------------
USER = "user"  # an account holder's own orders and money: deposit, withdraw, place/cancel orders
MARKET_DATA = "market_data"  # oracle prices (the feeds' index), a market's loaded state
CLOCK = "clock"  # tick: venue time
OPERATOR = "operator"  # the venue's controls (REQUIRED_ROLE)
NODE_ACTION = "node_action"  # snapshots, rollback, the refund desk (credit: the desk only)
KINDS = (USER, MARKET_DATA, CLOCK, OPERATOR, NODE_ACTION)

#: node actions among the commands (the rest of OPERATOR_COMMANDS are the venue's controls)
NODE_ACTION_COMMANDS = frozenset({"take_snapshot", "rollback", "credit"})
#: node actions that are node methods, not commands (the refund desk)
NODE_ACTION_METHODS = ("propose_refund", "propose_refunds", "decide_refund", "pay_refund")

COMMAND_KINDS: dict[str, str] = {}
for _t in sorted(ALL_COMMANDS):
    if _t in USER_COMMANDS:
        COMMAND_KINDS[_t] = USER
    elif _t == "tick":
        COMMAND_KINDS[_t] = CLOCK
    elif _t in MARKET_DATA_COMMANDS:
        COMMAND_KINDS[_t] = MARKET_DATA
    elif _t in NODE_ACTION_COMMANDS:
        COMMAND_KINDS[_t] = NODE_ACTION
    else:
        COMMAND_KINDS[_t] = OPERATOR
for _t in NODE_ACTION_METHODS:
    COMMAND_KINDS[_t] = NODE_ACTION

#: the least role that may issue each command and node action (``system``: the venue's own services only)
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
    "propose_refunds": "operator",
    # operator controls: maintenance windows, the withdrawals pause, per-account actions
    "cancel_maintenance": "operator",
    "reschedule_maintenance": "operator",
    "extend_maintenance": "operator",
    "set_withdrawals": "operator",
    "set_account_mode": "operator",
    "cancel_account_orders": "operator",
    "release_brake": "approver",
    "rollback": "approver",
    # money leaves the treasury or the fund only through an approved refund record: the refund desk
    # (Node.pay_refund, approver) checks the record and sends the credit as SYSTEM
    "credit": SYSTEM_ROLE,
    "decide_refund": "approver",
    "pay_refund": "approver",
    "accept_oracle_price": "approver",  # an oracle price the guard rails held, accepted by hand
    "disable_safeguards": "approver",  # set_safeguards with enabled: false
    "override_gate": "approver",  # release_brake / set_market_mode open with override: true
    "create_market": "admin",
    # money from outside the venue (the treasury) INTO the insurance fund: it pays no account (a refund
    # from the fund still needs an approved record), so an admin may recapitalise the fund; audited
    "fund_insurance": "admin",
    **{t: SYSTEM_ROLE for t in sorted(USER_COMMANDS | MARKET_DATA_COMMANDS)},
}
assert ALL_COMMANDS <= set(REQUIRED_ROLE) and ALL_COMMANDS <= set(COMMAND_KINDS)
#: commands only SYSTEM may send (every user command, market data, the clock, and credit)
SYSTEM_ONLY = frozenset(t for t, r in REQUIRED_ROLE.items() if r == SYSTEM_ROLE)


@dataclass(frozen=True, eq=False)
class Actor:
    name: str
    role: str

    def may(self, action: str) -> bool:
        if self is SYSTEM:
            return True
        need = REQUIRED_ROLE.get(action)
        if need is None:
            return True
        if need == SYSTEM_ROLE:
            return False
        return _RANK.get(self.role, -1) >= _RANK[need]

    def __eq__(self, other: object) -> bool:  # SYSTEM equals only itself (identity is what counts)
        if self is SYSTEM or other is SYSTEM:
            return self is other
        return isinstance(other, Actor) and (self.name, self.role) == (other.name, other.role)

    def __hash__(self) -> int:
        return hash((self.name, self.role))


#: the venue's own services (simulator, feeds, clock, the refund desk); checked by identity
SYSTEM = Actor("system", SYSTEM_ROLE)


def kind_of(ctype: str) -> str:
    """The kind of a command type or node action (``user``, ``market_data``, ``clock``, ``operator``,
    ``node_action``)."""
    return COMMAND_KINDS.get(ctype, OPERATOR)


def normalize_name(name: str) -> str:
    """An operator name as compared: NFKC, stripped, casefolded (``alice ``, ``Alice``, ``ａｌｉｃｅ``
    are one operator)."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def same_operator(a: str | None, b: str | None) -> bool:
    """Whether two operator names are the same operator once normalised."""
    return a is not None and b is not None and normalize_name(a) == normalize_name(b)


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
    if role not in _RANK:  # never "system": that is SYSTEM's alone
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return Actor(name, role)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"
