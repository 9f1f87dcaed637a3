"""Scenarios: TOML files anyone can write (simulator setup, a timeline of faults and operator
actions, expectations), parsed into validated models.

``load_scenario(name_or_path)`` finds a shipped scenario by name (``scenarios/NAME.toml``, packaged
with perpdesk) or reads a file; a file with an error (unknown field, bad value, unknown market,
times out of order) raises :class:`ScenarioError` naming the file, the line where it can be found,
the field path and the reason. The runner lives in :mod:`engine.sim.runner`.

Times are durations from the scenario's start (``"90s"``, ``"30m"``, ``"1h30m"``, ``"250ms"``, or an
integer of milliseconds) or absolute UTC times (``"2026-01-19T04:30:00Z"``). Money, prices and sizes
are decimal strings.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..core.fixedpoint import DecimalError, parse_decimal
from ..core.markets import DEFAULT_MARKETS
from ..errors import PerpdeskError
from .captions import check_template, names_in, parse_condition, template_names

MARKET_NAMES = [m["market"] for m in DEFAULT_MARKETS]


class ScenarioError(PerpdeskError):
    """A scenario file that cannot be used; ``problems`` lists (location, field, reason)."""

    code = "scenario_refused"

    def __init__(self, path: str, problems: list[tuple[str, str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{loc}: {fld}: {why}" if fld else f"{loc}: {why}" for loc, fld, why in problems]
        super().__init__(f"scenario {path} is refused:\n  " + "\n  ".join(lines))


# ---- time --------------------------------------------------------------------
_DUR = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(v: object) -> int:
    """``"1h30m"``, ``"90s"``, ``"250ms"`` or an int of ms -> ms."""
    if type(v) is int:
        if v < 0:
            raise ValueError("a duration cannot be negative")
        return v
    if not isinstance(v, str) or not v:
        raise ValueError(f"expected a duration such as \"90s\", \"30m\", \"1h30m\" or milliseconds, got {v!r}")
    m = _DUR.match(v.strip())
    if not m or not any(m.groups()):
        raise ValueError(f"{v!r} is not a duration (use h, m, s, ms: \"1h30m\", \"90s\", \"250ms\")")
    h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + ms


def parse_utc(v: str) -> int:
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{v!r} is not an ISO time such as 2026-01-19T04:30:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _decimal(decimals: int, *, signed: bool = False, positive: bool = False):
    def check(v: object) -> str:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(f"write {v!r} as a decimal string (\"{v}\"): money, prices and sizes are never floats")
        try:
            n = parse_decimal(v, decimals, "value", allow_negative=signed)
        except DecimalError as e:
            raise ValueError(e.message) from None
        if positive and n <= 0:
            raise ValueError(f"must be greater than zero, got {v!r}")
        return v  # type: ignore[return-value]

    return check


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the venue and the participants ---------------------------------------------
class MarketSpec(_Strict):
    """One market; fields not given keep the default venue's values (engine/core/markets.py)."""

    market: str
    tick_size: str | None = None
    lot_size: str | None = None
    initial_margin: str | None = None
    maintenance_margin: str | None = None
    maker_fee: str | None = None
    taker_fee: str | None = None
    liquidation_fee: str | None = None
    price_band: str | None = None
    post_only_band: str | None = Field(None, description='"0": no post-only band (Paradex before Feb 2026)')
    index_price: str | None = None
    funding_index: str | None = Field(None, description="the venue's cumulative funding index at genesis")
    vol_bps: int | None = Field(None, ge=0, le=500, description="the random walk's step (bps, 1 sigma)")

    @field_validator("tick_size", "index_price", mode="before")
    @classmethod
    def _price(cls, v):
        return None if v is None else _decimal(6, positive=True)(v)

    @field_validator("lot_size", mode="before")
    @classmethod
    def _size(cls, v):
        return None if v is None else _decimal(8, positive=True)(v)

    @field_validator("initial_margin", "maintenance_margin", "taker_fee", "liquidation_fee", "price_band",
                     "post_only_band", mode="before")
    @classmethod
    def _frac(cls, v):
        return None if v is None else _decimal(8)(v)

    @field_validator("maker_fee", mode="before")
    @classmethod
    def _signed_frac(cls, v):
        return None if v is None else _decimal(8, signed=True)(v)

    @field_validator("funding_index", mode="before")
    @classmethod
    def _funding(cls, v):
        return None if v is None else _decimal(12, signed=True)(v)

    @field_validator("market")
    @classmethod
    def _known(cls, v):
        if v not in MARKET_NAMES:
            raise ValueError(f"unknown market {v!r}; markets: {', '.join(MARKET_NAMES)}")
        return v


class ParticipantsSpec(_Strict):
    makers: int = Field(4, ge=0, le=100)
    maker_levels: int = Field(3, ge=1, le=50)
    maker_cash: str = "5000000"
    requote_every: int = Field(3, ge=1)
    quote_around: Literal["true", "published"] = "published"
    oracle_every: int = Field(1, ge=1)
    takers_max: int = Field(2, ge=0, le=100)
    leveraged_rate: float = Field(0.15, ge=0, le=1)
    stop_loss_pct: int = Field(2, ge=1, le=50)
    take_profit_pct: int = Field(3, ge=1, le=100)
    leveraged_share: float = Field(0.2, ge=0, le=1)
    leverage_min: int = Field(5, ge=1, le=100)
    leverage_max: int = Field(25, ge=1, le=100)

    @field_validator("maker_cash", mode="before")
    @classmethod
    def _cash(cls, v):
        return _decimal(6, positive=True)(v)

    @model_validator(mode="after")
    def _range(self):
        if self.leverage_min > self.leverage_max:
            raise ValueError("leverage_min is above leverage_max")
        return self


class SimSpec(_Strict):
    seed: int = 7
    accounts: int = Field(1000, ge=0, le=1_000_000)
    markets: list[MarketSpec] = Field(default_factory=lambda: [MarketSpec(market=m) for m in MARKET_NAMES])
    price_path: str | None = Field(None, description="CSV or JSONL of ts,market,price (relative to this file)")
    participants: ParticipantsSpec = Field(default_factory=ParticipantsSpec)

    @field_validator("markets")
    @classmethod
    def _unique(cls, v):
        names = [m.market for m in v]
        if len(set(names)) != len(names):
            raise ValueError("a market is listed twice")
        if not v:
            raise ValueError("at least one market")
        return v


#: a scenario's name: a plain identifier (it names the demo's database file; never a path)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_SCENARIO_BYTES = 1 << 20  # a scenario file is a page of TOML, not a data set
MAX_PRICE_PATH_BYTES = 64 << 20


class Header(_Strict):
    name: str = Field(description="a plain identifier: letters, digits, - and _ (it names files)")
    title: str = ""
    description: str = ""
    start: str = "2026-01-19T04:00:00Z"
    duration: str | int
    step: str | int = "1s"
    tick_every: int = Field(1, ge=1)
    durable: bool = Field(False, description="a real SQLite database (a temp dir, or PERPDESK_HOME)")
    #: how the real venue ran: false for the historical incidents (the guard rails did not exist); the
    #: demo plays the scenario this way by default (``--safeguards`` / ``--no-safeguards`` override)
    safeguards: bool = True

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a plain name: use letters, digits, - and _ (at most 64; no "
                             f"path, no dots)")
        return v

    @field_validator("start")
    @classmethod
    def _start(cls, v):
        parse_utc(v)
        return v

    @field_validator("duration", "step")
    @classmethod
    def _dur(cls, v):
        if parse_duration(v) <= 0:
            raise ValueError("must be longer than zero")
        return v

    @property
    def start_ms(self) -> int:
        return parse_utc(self.start)

    @property
    def duration_ms(self) -> int:
        return parse_duration(self.duration)

    @property
    def step_ms(self) -> int:
        return parse_duration(self.step)


# ---- the timeline ----------------------------------------------------------------
class _Entry(_Strict):
    at: str | int
    id: str | None = None
    caption: str = ""
    #: the caption shows only when this holds on the run's counters when the entry fires
    #: (``"liquidations > 0"``; see engine/sim/captions.py); otherwise ``caption_else`` (may be empty)
    caption_if: str | None = None
    caption_else: str = ""
    #: the entry's action is taken only when this holds on the run's counters when the entry fires
    #: (``if = "unintended.corrupt > 0"``, the caption_if grammar); otherwise the run records it as skipped
    #: and shows ``caption_else``
    if_: str | None = Field(None, alias="if")

    @field_validator("caption_if", "if_")
    @classmethod
    def _cond(cls, v):
        if v is not None:
            parse_condition(v)
        return v

    @field_validator("caption", "caption_else")
    @classmethod
    def _template(cls, v):
        check_template(v)
        return v

    @field_validator("at")
    @classmethod
    def _at(cls, v):
        if isinstance(v, str) and "T" in v:
            parse_utc(v)
        else:
            parse_duration(v)
        return v


class _Fault(_Entry):
    #: the fault's window for unintended liquidations ends here: a time, or the id of a later entry
    until: str | int


Markets = list[str] | Literal["all"]


class ScheduleMaintenance(_Entry):
    action: Literal["schedule_maintenance"]
    window_id: str
    markets: Markets = "all"
    start: str | int
    duration: str | int
    kind: Literal["database_upgrade", "oracle_restart", "scale_up"]


class Brake(_Entry):
    action: Literal["emergency_brake"]
    reason: str = "incident"


class ReleaseBrake(_Entry):
    action: Literal["release_brake"]
    reason: str = "incident resolved"
    override: bool = False


class SetMode(_Entry):
    action: Literal["set_market_mode"]
    markets: Markets = "all"
    mode: Literal["open", "post_only", "reduce_only", "cancel_only", "halted"]
    reason: str = ""


class SetAccess(_Entry):
    action: Literal["set_platform_access"]
    enabled: bool
    reason: str = ""


class PauseLiq(_Entry):
    action: Literal["pause_liquidations", "resume_liquidations", "pause_triggers", "resume_triggers"]
    market: str | None = None
    reason: str = ""


class TakeSnapshot(_Entry):
    action: Literal["take_snapshot"]
    label: str = ""


class Rollback(_Entry):
    action: Literal["rollback"]
    #: "maintenance" (the newest maintenance snapshot), "label:TEXT", or a take_snapshot entry's id
    snapshot: str = "maintenance"
    reason: str = "roll back to before the incident"


class ComputeRefunds(_Entry):
    action: Literal["compute_refunds"]
    method: Literal["counterfactual", "reference_price"]
    #: counterfactual: the snapshot to replay from (as for rollback) and the faults whose commands are bad
    snapshot: str | None = None
    bad: list[str] = Field(default_factory=list)
    #: reference_price: liquidations from this entry's first command to now, against the price at ``reference``
    since: str | None = None
    #: ...up to this entry's last command (default: now)
    upto: str | None = None
    reference: str | int | None = None
    market: str | None = None
    reason: str = "refund the incident's victims"


class ApproveRefunds(_Entry):
    action: Literal["approve_refunds"]
    reason: str = "recomputed and checked"
    #: the fund that pays (Node.decide_refund): the insurance fund must cover every approved, unpaid
    #: refund; the treasury always covers (money from outside the venue)
    fund: Literal["insurance", "treasury"] = "insurance"


class RejectRefunds(_Entry):
    action: Literal["reject_refunds"]
    reason: str = "not owed"


class PayRefunds(_Entry):
    action: Literal["pay_refunds"]
    #: default: the fund each refund was approved from (naming another is refused by the node)
    fund: Literal["insurance", "treasury"] | None = None


class SetWithdrawals(_Entry):
    action: Literal["set_withdrawals"]
    enabled: bool
    reason: str = ""


class SetAccountMode(_Entry):
    action: Literal["set_account_mode"]
    account: str
    mode: Literal["normal", "reduce_only", "frozen"]
    reason: str = ""


class CancelAccountOrders(_Entry):
    action: Literal["cancel_account_orders"]
    account: str
    market: str | None = None
    reason: str = ""


class CancelMaintenance(_Entry):
    action: Literal["cancel_maintenance"]
    window_id: str
    reason: str = ""


class RescheduleMaintenance(_Entry):
    action: Literal["reschedule_maintenance"]
    window_id: str
    start: str | int
    reason: str = ""


class ExtendMaintenance(_Entry):
    action: Literal["extend_maintenance"]
    window_id: str
    #: the window's new total duration
    duration: str | int
    reason: str = ""


class AcceptOraclePrice(_Entry):
    action: Literal["accept_oracle_price"]
    market: str
    price: str
    reason: str = ""

    @field_validator("price", mode="before")
    @classmethod
    def _p(cls, v):
        return _decimal(6, positive=True)(v)


class SetMarketParams(_Entry):
    action: Literal["set_market_params"]
    market: str
    post_only_band: str | None = None
    oracle_band: str | None = None
    oracle_stale_ms: int | None = Field(None, ge=0)
    breaker_accounts: int | None = Field(None, ge=0)
    breaker_oi_share: str | None = None
    impact_notional: str | None = None
    max_order_size: str | None = None
    max_position_notional: str | None = None
    open_interest_cap: str | None = None
    #: [[notional floor, initial-margin fraction], ...] as decimal strings
    margin_tiers: list[tuple[str, str]] | None = None
    reason: str = ""

    @field_validator("post_only_band", "oracle_band", "breaker_oi_share", mode="before")
    @classmethod
    def _frac(cls, v):
        return None if v is None else _decimal(8)(v)

    @field_validator("impact_notional", "max_position_notional", mode="before")
    @classmethod
    def _money(cls, v):
        return None if v is None else _decimal(6, positive=True)(v)

    @field_validator("max_order_size", "open_interest_cap", mode="before")
    @classmethod
    def _size(cls, v):
        return None if v is None else _decimal(8, positive=True)(v)

    @model_validator(mode="after")
    def _something(self):
        if not self.params():
            raise ValueError("set_market_params needs at least one parameter to set")
        return self

    def params(self) -> dict:
        return {k: (list(map(list, v)) if k == "margin_tiers" else v)
                for k, v in self.model_dump(exclude_none=True).items()
                if k not in ("at", "id", "caption", "caption_if", "caption_else", "if_", "action", "market", "reason")}


class SetSafeguards(_Entry):
    action: Literal["set_safeguards"]
    enabled: bool
    reason: str = ""


class FundInsurance(_Entry):
    action: Literal["fund_insurance"]
    amount: str
    reason: str = ""

    @field_validator("amount", mode="before")
    @classmethod
    def _a(cls, v):
        return _decimal(6, positive=True)(v)


class Participants(_Entry):
    action: Literal["participants"]
    makers: bool | None = None
    takers: bool | None = None


class PriceMove(_Entry):
    action: Literal["price_move"]
    markets: Markets = "all"
    bps: int = Field(ge=-5000, le=5000)


class Note(_Entry):
    action: Literal["note"]


class CorruptMarketState(_Fault):
    action: Literal["corrupt_market_state"]
    markets: Markets = "all"
    funding_index: str = "0"
    mark_price: str | None = Field(None, description="default: the market's current mark")
    source: str = "db-restore"

    @field_validator("funding_index", mode="before")
    @classmethod
    def _f(cls, v):
        return _decimal(12, signed=True)(v)

    @field_validator("mark_price", mode="before")
    @classmethod
    def _p(cls, v):
        return None if v is None else _decimal(6)(v)


class StaleOracle(_Fault):
    action: Literal["stale_oracle"]
    markets: Markets = "all"
    offset_bps: int = Field(ge=-5000, le=5000)
    lag: str | int = "0s"
    duration: str | int


class FreezeOracle(_Fault):
    action: Literal["freeze_oracle"]
    markets: Markets = "all"
    duration: str | int


class ThinBook(_Fault):
    action: Literal["thin_book"]
    markets: Markets = "all"
    #: a participant posts a passive-looking bid and ask this far from the oracle (bps) on the empty book
    bid_bps: int = Field(-400, ge=-5000, le=5000)
    ask_bps: int = Field(-300, ge=-5000, le=5000)
    size_lots: int = Field(10, ge=1)
    duration: str | int = "10m"

    @model_validator(mode="after")
    def _order(self):
        if self.bid_bps >= self.ask_bps:
            raise ValueError("bid_bps must be below ask_bps (the two orders must not cross)")
        return self


class NodeCrash(_Fault):
    action: Literal["node_crash"]


class Recover(_Entry):
    action: Literal["recover"]


Entry = Annotated[
    ScheduleMaintenance | Brake | ReleaseBrake | SetMode | SetAccess | PauseLiq | TakeSnapshot | Rollback
    | ComputeRefunds | ApproveRefunds | RejectRefunds | PayRefunds | SetWithdrawals | SetAccountMode
    | CancelAccountOrders | CancelMaintenance | RescheduleMaintenance | ExtendMaintenance | AcceptOraclePrice
    | SetMarketParams | SetSafeguards | FundInsurance | Participants | PriceMove | Note | CorruptMarketState
    | StaleOracle | FreezeOracle | ThinBook | NodeCrash | Recover,
    Field(discriminator="action"),
]
FAULT_ACTIONS = ("corrupt_market_state", "stale_oracle", "freeze_oracle", "thin_book", "node_crash")


# ---- expectations ------------------------------------------------------------------------
class Expect(_Strict):
    """Bounds the run's report must meet (every field optional)."""

    liquidations_min: int | None = None
    liquidations_max: int | None = None
    unintended_min: int | None = None
    unintended_max: int | None = None
    #: per fault id: bounds on its unintended liquidations, {min = .., max = ..}
    unintended_by_fault: dict[str, dict[Literal["min", "max"], int]] = Field(default_factory=dict)
    invariants_ok: bool | None = None
    brake: bool | None = None
    rollback: bool | None = None
    refunds_paid_min: int | None = None
    refunds_paid_max: int | None = None
    nothing_lost: bool | None = None
    safeguard_events_min: int | None = None
    final_modes: dict[str, str] = Field(default_factory=dict)


class Expectations(_Strict):
    always: Expect = Field(default_factory=Expect)
    safeguards_on: Expect = Field(default_factory=Expect)
    safeguards_off: Expect = Field(default_factory=Expect)


class Scenario(_Strict):
    scenario: Header
    sim: SimSpec = Field(default_factory=SimSpec)
    timeline: list[Entry] = Field(default_factory=list)
    expect: Expectations = Field(default_factory=Expectations)

    _source: str | None = PrivateAttr(default=None)  # the file it came from (not a field of the file)

    @model_validator(mode="after")
    def _consistent(self):
        names = {m.market for m in self.sim.markets}
        start, end = 0, self.scenario.duration_ms
        ids: dict[str, int] = {}
        prev = -1
        for i, e in enumerate(self.timeline):
            at = self.offset(e.at)
            loc = f"timeline[{i}]"
            if at < prev:
                raise _at(f"{loc}.at", f"{e.at!r} is before the previous entry's time: the timeline must be in time order")
            if not start <= at <= end:
                raise _at(f"{loc}.at", f"{e.at!r} is outside the scenario (0 to {self.scenario.duration})")
            prev = at
            if e.id is not None:
                if e.id in ids:
                    raise _at(f"{loc}.id", f"id {e.id!r} is used twice")
                ids[e.id] = at
            for fld in ("markets", "market"):
                v = getattr(e, fld, None)
                for m in ([v] if isinstance(v, str) and v != "all" else v if isinstance(v, list) else []):
                    if m not in names:
                        raise _at(f"{loc}.{fld}", f"unknown market {m!r}; this scenario's markets: {', '.join(sorted(names))}")
        for i, e in enumerate(self.timeline):
            loc = f"timeline[{i}]"
            until = getattr(e, "until", None)
            if until is not None:
                u = ids.get(until) if isinstance(until, str) and until in ids else None
                if u is None:
                    try:
                        u = self.offset(until)
                    except ValueError:
                        raise _at(f"{loc}.until", f"{until!r} is neither a time nor the id of a timeline entry") from None
                if u < self.offset(e.at):
                    raise _at(f"{loc}.until", f"{until!r} is before the fault starts")
            at = self.offset(e.at)
            refs = [("bad", r) for r in getattr(e, "bad", None) or []]
            for fld in ("since", "upto"):
                if getattr(e, fld, None) is not None:
                    refs.append((fld, getattr(e, fld)))
            snap = getattr(e, "snapshot", None)
            if snap is not None and snap != "maintenance" and not snap.startswith(("label:", "snap-")):
                refs.append(("snapshot", snap))
            for fld, ref in refs:
                if ref not in ids or ids[ref] > at:
                    what = ("a snapshot (\"maintenance\", \"label:TEXT\", a snapshot id or the id of an "
                            "earlier take_snapshot entry)" if fld == "snapshot" else "the id of an earlier timeline entry")
                    raise _at(f"{loc}.{fld}", f"{ref!r} is not {what}")
        faults = {e.id for e in self.timeline if e.id and e.action in FAULT_ACTIONS}
        for i, e in enumerate(self.timeline):
            used = [(f"timeline[{i}].{f}", n) for f, cond in (("caption_if", e.caption_if), ("if", e.if_))
                    for n in (names_in(parse_condition(cond)) if cond else [])]
            used += [(f"timeline[{i}].{f}", n) for f in ("caption", "caption_else")
                     for n in template_names(getattr(e, f))]
            for loc, name in used:
                kind, _, ref = name.partition(".")
                if kind == "unintended" and ref and ref not in faults:
                    raise _at(loc, f"{name!r}: {ref!r} is not the id of a fault in this timeline "
                                   f"(faults: {', '.join(sorted(faults)) or 'none'})")
                if kind == "since" and ref and (ref not in ids or ids[ref] > self.offset(e.at)):
                    raise _at(loc, f"{name!r}: {ref!r} is not the id of this or an earlier timeline entry")
        for k in self.expect.always.unintended_by_fault | self.expect.safeguards_on.unintended_by_fault | \
                self.expect.safeguards_off.unintended_by_fault:
            if k not in ids:
                raise _at("expect.unintended_by_fault", f"{k!r} is not the id of a timeline entry")
        return self

    def offset(self, v: str | int) -> int:
        """A timeline time as ms from the scenario's start."""
        if isinstance(v, str) and "T" in v:
            return parse_utc(v) - self.scenario.start_ms
        return parse_duration(v)

    @property
    def source(self) -> str | None:
        return self._source


def _at(loc: str, msg: str) -> ValueError:
    # pydantic wraps a ValueError from a model validator; the field path travels in the message
    return ValueError(f"@@{loc}@@ {msg}")


# ---- loading -----------------------------------------------------------------------------
def shipped() -> list[str]:
    """Names of the scenarios shipped with perpdesk."""
    return sorted(p.name[:-5] for p in _shipped_dir().iterdir() if p.name.endswith(".toml"))


def _shipped_dir():
    try:
        return resources.files("scenarios")
    except ModuleNotFoundError:  # running from a source tree without the package installed
        return Path(__file__).resolve().parents[2] / "scenarios"


def _read_text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(path, [(path, "", f"not UTF-8 text (byte {e.start}): a scenario file is TOML "
                                              f"in UTF-8")]) from None


def read_limited(path: str, limit: int, what: str) -> bytes:
    """A regular file's bytes, at most ``limit`` (a device, FIFO or directory is refused)."""
    import stat

    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ScenarioError(path, [(path, "", f"the {what} is not a regular file (a device, FIFO or "
                                                      f"directory is refused)")])
            if st.st_size > limit:
                raise ScenarioError(path, [(path, "", f"the {what} is {st.st_size:,} bytes, more than the "
                                                      f"{limit:,} allowed")])
            data = f.read(limit + 1)
    except OSError as e:
        raise ScenarioError(path, [(path, "", f"cannot read the {what}: {e.strerror}")]) from None
    if len(data) > limit:
        raise ScenarioError(path, [(path, "", f"the {what} is more than the {limit:,} bytes allowed")])
    return data


def find(name_or_path: str) -> tuple[str, str]:
    """(path, text) of a scenario given by name (shipped) or path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return str(p), _read_text(str(p), read_limited(str(p), MAX_SCENARIO_BYTES, "scenario file"))
    if not NAME_RE.match(name_or_path):
        raise ScenarioError(name_or_path, [(name_or_path, "", "no such scenario file, and not a shipped scenario's "
                                            f"name (shipped: {', '.join(shipped())})")])
    res = _shipped_dir() / f"{name_or_path}.toml"
    try:
        return str(res), _read_text(str(res), res.read_bytes())
    except (OSError, FileNotFoundError):
        raise ScenarioError(name_or_path, [(name_or_path, "", "no such scenario file, and no shipped scenario of that "
                                            f"name (shipped: {', '.join(shipped())})")]) from None


def load_scenario(name_or_path: str) -> Scenario:
    path, text = find(name_or_path)
    return parse_scenario(text, path)


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(path, [(f"{path}", "", f"not valid TOML: {e}")]) from None
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(path, [_problem(path, text, data, err) for err in e.errors()]) from None
    sc._source = path
    return sc


def _problem(path: str, text: str, data: dict, err: dict) -> tuple[str, str, str]:
    loc = list(err["loc"])
    if len(loc) > 2 and loc[0] == "timeline" and loc[2] in _ACTION_TAGS:  # the union's tag, not a field
        del loc[2]
    msg = err["msg"]
    m = re.search(r"@@(.+?)@@ (.*)", msg, re.S)
    if m:  # a cross-field check names its own field path
        dotted = m.group(1)
        msg = m.group(2)
        loc = [int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", dotted) if p]
    else:
        msg = msg.removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}"
            if len(loc) >= 3 and loc[0] == "timeline":
                entry = _dig(data, loc[:2])
                msg += f" for action {entry.get('action')!r}" if isinstance(entry, dict) else ""
        elif err["type"] == "union_tag_not_found":
            msg = f"missing field 'action'; actions: {', '.join(sorted(_ACTION_TAGS))}"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown action {err.get('input', {}).get('action')!r}; actions: {', '.join(sorted(_ACTION_TAGS))}" \
                if isinstance(err.get("input"), dict) else msg
        elif err["type"] == "missing":
            msg = f"missing field {loc[-1]!r}"
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    line = _line_of(text, data, loc)
    return (f"{path}:{line}" if line else path, field, msg)


def _dig(data, loc):
    cur = data
    for p in loc:
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _line_of(text: str, data: dict, loc: list) -> int | None:
    """Best effort: the line of the key (tomllib keeps no positions). Walks tables and arrays of tables."""
    lines = text.splitlines()
    # find the table header for the path prefix: [a.b] or the n-th [[a]]
    start = 0
    key_path = list(loc)
    header = []
    i = 0
    while i < len(key_path):
        p = key_path[i]
        if isinstance(p, str) and i + 1 < len(key_path) and isinstance(key_path[i + 1], int):
            name = ".".join(header + [p])
            n = key_path[i + 1]
            count = -1
            for j in range(start, len(lines)):
                if lines[j].strip().replace(" ", "") == f"[[{name}]]":
                    count += 1
                    if count == n:
                        start = j + 1
                        break
            else:
                return None
            header.append(p)
            i += 2
            continue
        if isinstance(p, str) and i + 1 < len(key_path) and isinstance(_dig(data, loc[:i + 1]), dict):
            name = ".".join(header + [p])
            for j in range(start, len(lines)):
                if lines[j].strip().replace(" ", "") == f"[{name}]":
                    start = j + 1
                    header.append(p)
                    break
            else:
                header.append(p)  # an inline or dotted table: search its keys from here
            i += 1
            continue
        break
    key = next((p for p in reversed(key_path) if isinstance(p, str)), None)
    if key is None:
        return start or None
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for j in range(start, len(lines)):
        if j > start and lines[j].lstrip().startswith("[") and not pat.match(lines[j]):
            break
        if pat.match(lines[j]):
            return j + 1
    return start or None


def _tags() -> set[str]:
    from typing import get_args

    union = get_args(Entry)[0]
    return {a for cls in get_args(union) for a in get_args(cls.model_fields["action"].annotation)}


#: every timeline action (from the Entry union: a new action class is listed by itself)
_ACTION_TAGS = _tags()
ACTIONS = frozenset(_ACTION_TAGS)
