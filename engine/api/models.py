"""The API's typed shapes (pydantic) and :class:`Outcome`, the result of every write.

Importable without the engine core: a console needs only this package. Large reads are sent as
orjson bytes without per-row validation; their models here describe them for the OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

API_VERSION = "v1"


@dataclass
class Outcome:
    """The result of a write: a refused command, a role refusal and a node error are all
    ``Outcome(ok=False, code, message)`` so a screen shows a notification, never a traceback."""

    ok: bool
    code: str = ""
    message: str = ""
    seq: int = 0
    events: list[dict] = field(default_factory=list)
    data: Any = None

    @property
    def summary(self) -> str:
        return self.message if not self.ok else (self.message or "done")

    def to_dict(self) -> dict:
        return {"ok": self.ok, "code": self.code, "message": self.message, "seq": self.seq,
                "events": self.events, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict) -> Outcome:
        return cls(bool(d.get("ok")), d.get("code") or "", d.get("message") or "", int(d.get("seq") or 0),
                   list(d.get("events") or ()), d.get("data"))


# ---- responses -------------------------------------------------------------------------------------
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class OutcomeModel(BaseModel):
    ok: bool
    code: str = ""
    message: str = ""
    seq: int = 0
    events: list[dict] = []
    data: Any = None


class ErrorModel(BaseModel):
    code: str
    message: str


class Health(BaseModel):
    ok: bool
    ready: bool
    version: str = API_VERSION
    head: int = 0
    sandbox: bool = False


class Identity(BaseModel):
    """Who the token says you are, what you may do (action -> allowed) and the least role each action needs."""

    operator: str
    role: str
    db: str
    may: dict[str, bool]
    required: dict[str, str]


class Session(BaseModel):
    session: str
    operator: str
    role: str
    since: int  # ms since the epoch
    client: str


class SessionCreated(BaseModel):
    session: str


class Row(_Open):
    """A row of plain data (ints and strings); the fields are those of the node's views."""


class Overview(BaseModel):
    status: Row
    markets: list[Row]
    counters: dict[str, int]
    last_minute: dict[str, int]
    rate: float | None
    sessions: list[Session]


class Rate(BaseModel):
    rate: float | None


# ---- requests (JSON bodies of the actions) ---------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(_Body):
    reason: str


class SnapshotBody(_Body):
    label: str
    reason: str = ""


class RollbackBody(_Body):
    snapshot_id: str
    reason: str


class ScheduleMaintenanceBody(_Body):
    window_id: str
    markets: list[str]
    start_ts: int
    duration_ms: int
    kind: str
    reason: str = ""


class WindowBody(_Body):
    window_id: str
    reason: str


class RescheduleBody(_Body):
    window_id: str
    start_ts: int
    reason: str


class ExtendBody(_Body):
    window_id: str
    duration_ms: int
    reason: str


class MarketReason(_Body):
    market: str | None = None
    reason: str


class MarketModeBody(_Body):
    market: str
    mode: str
    reason: str


class EnabledBody(_Body):
    enabled: bool
    reason: str


class AccountModeBody(_Body):
    account: str
    mode: str
    reason: str


class AccountOrdersBody(_Body):
    account: str
    market: str | None = None
    reason: str


class ProposeRefundBody(_Body):
    account: str
    amount: str
    reason: str
    evidence: dict | None = None


class DecideRefundBody(_Body):
    refund_id: str
    approve: bool
    reason: str
    fund: str | None = None


class PayRefundBody(_Body):
    refund_id: str
    fund: str | None = None


class ProposeRefundsBody(_Body):
    report: dict
    reason: str


class ComputeRefundsBody(_Body):
    snapshot_id: str
    to_seq: int
    bad_seqs: list[int]
    corrections: dict | None = None


class CommandBody(_Open):
    """A raw wire-form command ``{"type": ..., ...}``; the node checks it and the caller's role."""

    type: str


__all__ = [n for n in dir() if not n.startswith("_") and n[0].isupper()] + ["API_VERSION"]
