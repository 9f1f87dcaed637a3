"""A scenario's timeline: one model per action (operator actions, faults, market moves, notes),
the ``Entry`` union discriminated on ``action``, the fault actions and the set of every action.

Loaded as part of :class:`engine.sim.scenario.Scenario`; the actions are carried out by
:mod:`engine.sim.actions` and :mod:`engine.sim.faults`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .captions import check_template, parse_condition
from .fields import Strict, decimal_field, parse_duration, parse_utc


class TimelineEntry(Strict):
    """What every timeline entry has: its time, id, captions and ``if``."""

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


class FaultEntry(TimelineEntry):
    """A fault: an entry whose unintended liquidations are counted until ``until``."""

    #: the fault's window for unintended liquidations ends here: a time, or the id of a later entry
    until: str | int


Markets = list[str] | Literal["all"]


class ScheduleMaintenance(TimelineEntry):
    action: Literal["schedule_maintenance"]
    window_id: str
    markets: Markets = "all"
    start: str | int
    duration: str | int
    kind: Literal["database_upgrade", "oracle_restart", "scale_up"]


class Brake(TimelineEntry):
    action: Literal["emergency_brake"]
    reason: str = "incident"


class ReleaseBrake(TimelineEntry):
    action: Literal["release_brake"]
    reason: str = "incident resolved"
    override: bool = False


class SetMode(TimelineEntry):
    action: Literal["set_market_mode"]
    markets: Markets = "all"
    mode: Literal["open", "post_only", "reduce_only", "cancel_only", "halted"]
    reason: str = ""


class SetAccess(TimelineEntry):
    action: Literal["set_platform_access"]
    enabled: bool
    reason: str = ""


class PauseLiq(TimelineEntry):
    action: Literal["pause_liquidations", "resume_liquidations", "pause_triggers", "resume_triggers"]
    market: str | None = None
    reason: str = ""


class TakeSnapshot(TimelineEntry):
    action: Literal["take_snapshot"]
    label: str = ""


class Rollback(TimelineEntry):
    action: Literal["rollback"]
    #: "maintenance" (the newest maintenance snapshot), "label:TEXT", or a take_snapshot entry's id
    snapshot: str = "maintenance"
    reason: str = "roll back to before the incident"


class ComputeRefunds(TimelineEntry):
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


class ApproveRefunds(TimelineEntry):
    action: Literal["approve_refunds"]
    reason: str = "recomputed and checked"
    #: the fund that pays (Node.decide_refund): the insurance fund must cover every approved, unpaid
    #: refund; the treasury always covers (money from outside the venue)
    fund: Literal["insurance", "treasury"] = "insurance"


class RejectRefunds(TimelineEntry):
    action: Literal["reject_refunds"]
    reason: str = "not owed"


class PayRefunds(TimelineEntry):
    action: Literal["pay_refunds"]
    #: default: the fund each refund was approved from (naming another is refused by the node)
    fund: Literal["insurance", "treasury"] | None = None


class SetWithdrawals(TimelineEntry):
    action: Literal["set_withdrawals"]
    enabled: bool
    reason: str = ""


class SetAccountMode(TimelineEntry):
    action: Literal["set_account_mode"]
    account: str
    mode: Literal["normal", "reduce_only", "frozen"]
    reason: str = ""


class CancelAccountOrders(TimelineEntry):
    action: Literal["cancel_account_orders"]
    account: str
    market: str | None = None
    reason: str = ""


class CancelMaintenance(TimelineEntry):
    action: Literal["cancel_maintenance"]
    window_id: str
    reason: str = ""


class RescheduleMaintenance(TimelineEntry):
    action: Literal["reschedule_maintenance"]
    window_id: str
    start: str | int
    reason: str = ""


class ExtendMaintenance(TimelineEntry):
    action: Literal["extend_maintenance"]
    window_id: str
    #: the window's new total duration
    duration: str | int
    reason: str = ""


class AcceptOraclePrice(TimelineEntry):
    action: Literal["accept_oracle_price"]
    market: str
    price: str
    reason: str = ""

    @field_validator("price", mode="before")
    @classmethod
    def _p(cls, v):
        return decimal_field(6, positive=True)(v)


class SetMarketParams(TimelineEntry):
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
        return None if v is None else decimal_field(8)(v)

    @field_validator("impact_notional", "max_position_notional", mode="before")
    @classmethod
    def _money(cls, v):
        return None if v is None else decimal_field(6, positive=True)(v)

    @field_validator("max_order_size", "open_interest_cap", mode="before")
    @classmethod
    def _size(cls, v):
        return None if v is None else decimal_field(8, positive=True)(v)

    @model_validator(mode="after")
    def _something(self):
        if not self.params():
            raise ValueError("set_market_params needs at least one parameter to set")
        return self

    def params(self) -> dict:
        return {k: (list(map(list, v)) if k == "margin_tiers" else v)
                for k, v in self.model_dump(exclude_none=True).items()
                if k not in ("at", "id", "caption", "caption_if", "caption_else", "if_", "action", "market", "reason")}


class SetSafeguards(TimelineEntry):
    action: Literal["set_safeguards"]
    enabled: bool
    reason: str = ""


class FundInsurance(TimelineEntry):
    action: Literal["fund_insurance"]
    amount: str
    reason: str = ""

    @field_validator("amount", mode="before")
    @classmethod
    def _a(cls, v):
        return decimal_field(6, positive=True)(v)


class Participants(TimelineEntry):
    action: Literal["participants"]
    makers: bool | None = None
    takers: bool | None = None


class PriceMove(TimelineEntry):
    action: Literal["price_move"]
    markets: Markets = "all"
    bps: int = Field(ge=-5000, le=5000)


class Note(TimelineEntry):
    action: Literal["note"]


class CorruptMarketState(FaultEntry):
    action: Literal["corrupt_market_state"]
    markets: Markets = "all"
    funding_index: str = "0"
    mark_price: str | None = Field(None, description="default: the market's current mark")
    source: str = "db-restore"

    @field_validator("funding_index", mode="before")
    @classmethod
    def _f(cls, v):
        return decimal_field(12, signed=True)(v)

    @field_validator("mark_price", mode="before")
    @classmethod
    def _p(cls, v):
        return None if v is None else decimal_field(6)(v)


class StaleOracle(FaultEntry):
    action: Literal["stale_oracle"]
    markets: Markets = "all"
    offset_bps: int = Field(ge=-5000, le=5000)
    lag: str | int = "0s"
    duration: str | int


class FreezeOracle(FaultEntry):
    action: Literal["freeze_oracle"]
    markets: Markets = "all"
    duration: str | int


class ThinBook(FaultEntry):
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


class NodeCrash(FaultEntry):
    action: Literal["node_crash"]


class Recover(TimelineEntry):
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


def _tags() -> set[str]:
    from typing import get_args

    union = get_args(Entry)[0]
    return {a for cls in get_args(union) for a in get_args(cls.model_fields["action"].annotation)}


#: every timeline action (from the Entry union: a new action class is listed by itself)
ACTIONS = frozenset(_tags())
