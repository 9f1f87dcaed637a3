"""The engine core: a pure, deterministic state machine, ``apply(command) -> events``.

No wall clock, no randomness, no I/O: time comes from commands (``ts``), money
is integer fixed point (see ``fixedpoint``), and every handler validates fully
before it changes anything, so a refused command changes nothing.

This module holds the ``Engine`` class: its state, the dispatch table (command type ->
handler) and the small helpers every handler shares. The handlers live by idea, each a
module-level function taking the engine (docs/architecture.md, "Where is what"):

* ``accounts``: deposit, withdraw
* ``orders``: place_order, cancel_order, cancel_all (the pre-trade checks)
* ``liveorders``: resting, forgetting and cancelling live orders
* ``fills``: matching against the book, the fill margin check, settlement
* ``marketdata``: oracle prices, market state, the tick, after-market-data evaluation
* ``funding``: impact premium, mark price, funding rate and index
* ``triggers``: TP/SL execution
* ``admin``: markets, parameters, bounds, safeguards, modes, access, brake, pauses
* ``operations``: snapshots, rollback, maintenance windows, withdrawals, account modes, credits
* ``liquidation``, ``maintenance``, ``guards``, ``snapshot``, ``checks``: as before
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from . import (
    accounts,
    admin,
    fills,
    funding,
    guards,
    liveorders,
    marketdata,
    operations,
    orders,
    snapshot,
)
from .book import Order
from .commands import MAX_TS, Command, CommandError, NotACommand, parse_command
from .funding import (  # re-exported: the node's views and the tests read them here
    BASIS_SCALE,
    BASIS_TO_FRAC,
    FUNDING_BASE_RATE,
    FUNDING_CAP,
    FUNDING_CLAMP,
    FUNDING_DEN,
    FUNDING_INTERVAL_MS,
    FUNDING_PERIOD_MS,
    FUNDING_SAMPLE_MS,
    MARK_EMA_MS,
    MARK_STEP_MS,
    MAX_FUNDING_INDEX,
)
from .liqindex import LiquidationIndex
from .margin import account_margins
from .model import Account, Market, Position
from .triggers import TRIGGER_BATCH, TRIGGER_TYPES

USER_ACCESS_CMDS = frozenset({"deposit", "withdraw", "place_order", "cancel_order", "cancel_all"})


class Engine:
    """One venue. ``apply`` is the only way in; everything else is a read."""

    def __init__(self) -> None:
        # ---- canonical state (hashed) ----
        self.markets: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1
        self.insurance_fund = 0
        self.fee_pool = 0
        self.funding_pool = 0
        self.deposits = 0
        self.withdrawals = 0
        self.treasury_in = 0
        self.fund_in = 0  # cumulative fund_insurance (treasury -> insurance fund); a rollback keeps it
        self.fund_paid = 0  # cumulative credits paid from the insurance fund; a rollback keeps them paid
        self.platform_access = True
        self.brake_engaged = False
        self.liquidations_paused = False
        self.triggers_paused = False
        self.pre_brake_pauses: list[bool] | None = None  # global pauses as they were when the brake tripped
        self.credits: dict[str, dict] = {}
        self.maintenance: dict[str, dict] = {}
        self.snapshot_due: str | None = None  # a maintenance window's snapshot, taken at the end of its tick
        self.safeguards = True  # guard rails on (guards.py); off: the engine behaves as before they existed
        self.audit: list = [-1, []]  # last continuous audit: [engine ts or -1, [[check, detail, market], ...]]
        # bad debt neither the insurance fund nor ADL could take: a recorded claim against the venue
        # (Paradex: a socialized-loss factor on withdrawals), counted by checks.money_conserved
        self.socialized_loss = 0
        self.liq_cooldown: dict[str, int] = {}  # account -> engine time its next partial liquidation step may run
        self.withdrawals_enabled = True  # set_withdrawals: off, every withdraw is refused (withdrawals_paused)
        # set_account_mode: account -> "reduce_only" | "frozen"; normal accounts are absent (empty: no cost)
        self.account_modes: dict[str, str] = {}
        # ---- journal position and library (not hashed) ----
        self.seq = 0
        self.now = 0
        self.snapshots: dict[str, snapshot.Snapshot] = {}
        # ---- derived indexes (rebuilt on restore) ----
        self.coids: dict[tuple[str, str], int] = {}
        self.liq_index = LiquidationIndex()
        self.liq_dirty: set[str] = set()  # accounts changed since they were last indexed
        self.adl_ranking: dict[tuple[str, bool], list[str]] = {}  # per liquidation pass
        self.mark_epoch = 0  # bumps whenever any mark or funding index changes (margin cache key)
        self.current_events: list[dict] = []
        self.event_seq = 0

    # ==================================================================
    # entry points
    # ==================================================================
    def apply(self, cmd: Command) -> list[dict]:
        """Apply one parsed command; returns its events (a ``rejected`` event if refused)."""
        self.seq += 1
        seq = self.seq
        events: list[dict] = []
        self.current_events = events
        self.event_seq = seq
        ts = cmd.ts
        if ts is not None:
            if ts < self.now:
                return [self._rejected(cmd.type, "ts_backwards",
                                       f"ts {ts} is before the engine's time {self.now}; time never goes backwards")]
            self.now = ts
        t = cmd.type
        try:
            # the two hottest commands call their handlers directly (native calls when compiled)
            if t == "place_order":
                orders.place_order(self, cmd.args)
            elif t == "cancel_order":
                orders.cancel_order(self, cmd.args)
            else:
                HANDLERS[t](self, cmd.args)
        except CommandError as e:
            if events:  # a handler must validate before it changes anything
                raise AssertionError(f"{cmd.type} refused after emitting events: {e.message}") from e
            return [self._rejected(cmd.type, e.code, e.message)]
        return events

    def apply_obj(self, obj: object) -> list[dict]:
        """Parse and apply a wire-form command. Raises NotACommand for a non-command."""
        try:
            cmd = parse_command(obj)
        except CommandError as e:
            assert isinstance(obj, dict)  # only a command object gets as far as a CommandError
            ctype = obj["type"]
            ts = obj.get("ts")
            self.seq += 1
            if type(ts) is int and self.now <= ts <= MAX_TS:
                self.now = ts
            return [self._rejected(ctype, e.code, e.message)]
        return self.apply(cmd)

    def _rejected(self, ctype: str, code: str, message: str) -> dict:
        return {"type": "rejected", "seq": self.seq, "command_type": ctype, "code": code, "message": message}

    def emit(self, ev: dict) -> None:
        """Append ``ev`` to the current command's events, stamped with its seq."""
        ev["seq"] = self.event_seq
        self.current_events.append(ev)

    # ==================================================================
    # small shared helpers (lookups that refuse, the margin cache, modes)
    # ==================================================================
    def require_market(self, name: str) -> Market:
        """The market ``name``; refused (``unknown_market``) if there is none."""
        mk = self.markets.get(name)
        if mk is None:
            raise CommandError("unknown_market", f"there is no market {name!r}")
        return mk

    def require_account(self, name: str) -> Account:
        """The account ``name``; refused (``unknown_account``) if there is none."""
        a = self.accounts.get(name)
        if a is None:
            raise CommandError("unknown_account", f"there is no account {name!r}")
        return a

    def require_access(self) -> None:
        """Refused (``access_disabled``) while platform access is off."""
        if not self.platform_access:
            raise CommandError("access_disabled", "platform access is disabled by the operators")

    def refuse_frozen(self, name: str) -> None:
        """Refused (``account_frozen``) if the operators froze the account ``name``."""
        if self.account_modes.get(name) == "frozen":
            raise CommandError("account_frozen", f"{name} is frozen by the operators; it may only cancel orders")

    def value_im(self, acct: Account) -> tuple[int, int]:
        """(account value, initial margin incl. open orders), cached until the account or a mark changes."""
        c = acct.mcache
        if c is not None and c[0] == self.mark_epoch:
            return c[1], c[2]
        value, im, _mm = account_margins(acct, self.markets)
        acct.mcache = [self.mark_epoch, value, im]
        return value, im

    def set_mode(self, mk: Market, mode: str) -> None:
        """Put ``mk`` in ``mode`` (``market_mode`` event when it changes)."""
        if mk.mode != mode:
            mk.mode = mode
            self.emit({"type": "market_mode", "market": mk.name, "mode": mode})

    # ==================================================================
    # the idea modules' operations other modules and layers call on the engine
    # (liquidation.py, maintenance.py, the node's views): one call each
    # ==================================================================
    def remove_order(self, o: Order, reason: str) -> None:
        """Cancel a live order (resting or trigger) and emit ``order_canceled`` (liveorders.remove_order)."""
        liveorders.remove_order(self, o, reason)

    @staticmethod
    def drop_if_empty(acct: Account, mname: str, pos: Position) -> None:
        """Drop ``acct``'s position in ``mname`` if nothing is left in it (liveorders.drop_if_empty)."""
        liveorders.drop_if_empty(acct, mname, pos)

    def enforce_reduce_only(self, acct: Account, mk: Market, pos: Position) -> None:
        """Cancel reduce-only and TP/SL orders that would no longer shrink the position."""
        liveorders.enforce_reduce_only(self, acct, mk, pos)

    def take_liquidity(self, mk: Market, acct: Account, taker: Order, limit: int, qty: int, taker_fee_rate: int,
                       liquidation: bool = False) -> int:
        """Match ``qty`` of ``taker`` against the book and settle every fill (fills.take_liquidity)."""
        return fills.take_liquidity(self, mk, acct, taker, limit, qty, taker_fee_rate, liquidation)

    def apply_fill(self, acct: Account, mk: Market, pos: Position, dq: int, notional: int, fee: int) -> None:
        """Move a fill of signed size ``dq`` for ``notional`` micro-USDC into ``acct`` (fills.apply_fill)."""
        fills.apply_fill(self, acct, mk, pos, dq, notional, fee)

    def flag(self, mk: Market, flag: str, detail: str) -> None:
        """Flag ``mk`` (liquidations and triggers pause on it); an event when the flag is new."""
        marketdata.flag(self, mk, flag, detail)

    def after_market_data(self, markets: Iterable[Market], breaker_exempt: set[str] | None = None) -> None:
        """Fire due TP/SL triggers, then liquidate whoever is below maintenance (marketdata.after_market_data)."""
        marketdata.after_market_data(self, markets, breaker_exempt)

    @staticmethod
    def funding_rate_of(mk: Market) -> tuple[int, int]:
        """(rate per period, average premium) of ``mk`` now (funding.funding_rate_of)."""
        return funding.funding_rate_of(mk)

    # ==================================================================
    # reads
    # ==================================================================
    def brake_preview(self) -> dict:
        """What ``emergency_brake`` would do now, without doing it."""
        return admin.brake_preview(self)

    def state_hash(self) -> str:
        """The canonical state's hash (snapshot.state_hash)."""
        return snapshot.state_hash(self)

    def guard_status(self) -> dict:
        """Guard rails at a glance: per-market flags, breaker, pending oracle, quarantined writes; last audit."""
        return guards.guard_status(self)

    def margins(self, account: str) -> dict:
        """An account's value, initial and maintenance margin, free collateral, cash and collateral."""
        acct = self.accounts[account]
        value, im, mm = account_margins(acct, self.markets)
        return {"account": account, "value": value, "initial_margin": im, "maintenance_margin": mm,
                "free_collateral": value - im, "cash": acct.cash,
                "collateral": acct.cash + sum(p.cost for p in acct.positions.values())}


Handler = Callable[[Engine, dict], None]

# command type -> its handler, a module-level function of the idea's module taking the engine
# (a table of functions, not of bound methods: no reference cycle per engine)
HANDLERS: Final[dict[str, Handler]] = {
    "deposit": accounts.deposit,
    "withdraw": accounts.withdraw,
    "place_order": orders.place_order,
    "cancel_order": orders.cancel_order,
    "cancel_all": orders.cancel_all,
    "oracle_price": marketdata.oracle_price,
    "load_market_state": marketdata.load_market_state,
    "tick": marketdata.tick,
    "create_market": admin.create_market,
    "set_market_mode": admin.set_market_mode,
    "set_platform_access": admin.set_platform_access,
    "emergency_brake": admin.emergency_brake,
    "release_brake": admin.release_brake,
    "pause_liquidations": admin.pause_liquidations,
    "resume_liquidations": admin.resume_liquidations,
    "pause_triggers": admin.pause_triggers,
    "resume_triggers": admin.resume_triggers,
    "take_snapshot": operations.take_snapshot,
    "rollback": operations.rollback,
    "schedule_maintenance": operations.schedule_maintenance,
    "credit": operations.credit,
    "fund_insurance": operations.fund_insurance,
    "set_safeguards": admin.set_safeguards,
    "set_market_params": admin.set_market_params,
    "accept_oracle_price": marketdata.accept_oracle_price,
    "cancel_maintenance": operations.cancel_maintenance,
    "reschedule_maintenance": operations.reschedule_maintenance,
    "extend_maintenance": operations.extend_maintenance,
    "set_withdrawals": operations.set_withdrawals,
    "set_account_mode": operations.set_account_mode,
    "cancel_account_orders": operations.cancel_account_orders,
}

__all__ = [
    "BASIS_SCALE", "BASIS_TO_FRAC", "FUNDING_BASE_RATE", "FUNDING_CAP", "FUNDING_CLAMP", "FUNDING_DEN",
    "FUNDING_INTERVAL_MS", "FUNDING_PERIOD_MS", "FUNDING_SAMPLE_MS", "HANDLERS", "MARK_EMA_MS", "MARK_STEP_MS",
    "MAX_FUNDING_INDEX", "TRIGGER_BATCH", "TRIGGER_TYPES", "CommandError", "Engine", "NotACommand",
]
