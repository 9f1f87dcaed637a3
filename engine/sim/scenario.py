"""Scenarios: TOML files anyone can write (simulator setup, a timeline of faults and operator
actions, expectations), parsed into validated models.

``load_scenario(name_or_path)`` finds a shipped scenario by name (``scenarios/NAME.toml``, packaged
with perpdesk) or reads a file; a file with an error (unknown field, bad value, unknown market,
times out of order) raises :class:`ScenarioError` naming the file, the line where it can be found,
the field path and the reason. The runner lives in :mod:`engine.sim.runner`.

Times are durations from the scenario's start (``"90s"``, ``"30m"``, ``"1h30m"``, ``"250ms"``, or an
integer of milliseconds) or absolute UTC times (``"2026-01-19T04:30:00Z"``). Money, prices and sizes
are decimal strings.

The pieces: :mod:`engine.sim.fields` (ScenarioError, durations and times, the strict base model, the
decimal field check), :mod:`engine.sim.timeline` (the timeline's entries, ``Entry``, FAULT_ACTIONS,
ACTIONS); this module holds the venue and participants specs, the header, the expectations, the
Scenario model with its cross-checks, loading and error location, and re-exports the others' names.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..core.markets import DEFAULT_MARKETS
from .captions import names_in, parse_condition, template_names
from .fields import ScenarioError, Strict, decimal_field, parse_duration, parse_utc
from .timeline import (
    ACTIONS,
    FAULT_ACTIONS,
    AcceptOraclePrice,
    ApproveRefunds,
    Brake,
    CancelAccountOrders,
    CancelMaintenance,
    ComputeRefunds,
    CorruptMarketState,
    Entry,
    ExtendMaintenance,
    FreezeOracle,
    FundInsurance,
    Markets,
    NodeCrash,
    Note,
    Participants,
    PauseLiq,
    PayRefunds,
    PriceMove,
    Recover,
    RejectRefunds,
    ReleaseBrake,
    RescheduleMaintenance,
    Rollback,
    ScheduleMaintenance,
    SetAccess,
    SetAccountMode,
    SetMarketParams,
    SetMode,
    SetSafeguards,
    SetWithdrawals,
    StaleOracle,
    TakeSnapshot,
    ThinBook,
)

#: what this module offers: its own names and those of engine.sim.fields and engine.sim.timeline that
#: callers have always imported from here
__all__ = [
    "MARKET_NAMES",
    "MarketSpec",
    "ParticipantsSpec",
    "SimSpec",
    "NAME_RE",
    "MAX_SCENARIO_BYTES",
    "MAX_PRICE_PATH_BYTES",
    "Header",
    "Expect",
    "Expectations",
    "Scenario",
    "shipped",
    "read_limited",
    "find",
    "load_scenario",
    "parse_scenario",
    "ScenarioError",
    "parse_duration",
    "parse_utc",
    "ACTIONS",
    "FAULT_ACTIONS",
    "AcceptOraclePrice",
    "ApproveRefunds",
    "Brake",
    "CancelAccountOrders",
    "CancelMaintenance",
    "ComputeRefunds",
    "CorruptMarketState",
    "Entry",
    "ExtendMaintenance",
    "FreezeOracle",
    "FundInsurance",
    "Markets",
    "NodeCrash",
    "Note",
    "Participants",
    "PauseLiq",
    "PayRefunds",
    "PriceMove",
    "Recover",
    "RejectRefunds",
    "ReleaseBrake",
    "RescheduleMaintenance",
    "Rollback",
    "ScheduleMaintenance",
    "SetAccess",
    "SetAccountMode",
    "SetMarketParams",
    "SetMode",
    "SetSafeguards",
    "SetWithdrawals",
    "StaleOracle",
    "TakeSnapshot",
    "ThinBook",
]

MARKET_NAMES = [m["market"] for m in DEFAULT_MARKETS]


# ---- the venue and the participants ---------------------------------------------
class MarketSpec(Strict):
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
        return None if v is None else decimal_field(6, positive=True)(v)

    @field_validator("lot_size", mode="before")
    @classmethod
    def _size(cls, v):
        return None if v is None else decimal_field(8, positive=True)(v)

    @field_validator("initial_margin", "maintenance_margin", "taker_fee", "liquidation_fee", "price_band",
                     "post_only_band", mode="before")
    @classmethod
    def _frac(cls, v):
        return None if v is None else decimal_field(8)(v)

    @field_validator("maker_fee", mode="before")
    @classmethod
    def _signed_frac(cls, v):
        return None if v is None else decimal_field(8, signed=True)(v)

    @field_validator("funding_index", mode="before")
    @classmethod
    def _funding(cls, v):
        return None if v is None else decimal_field(12, signed=True)(v)

    @field_validator("market")
    @classmethod
    def _known(cls, v):
        if v not in MARKET_NAMES:
            raise ValueError(f"unknown market {v!r}; markets: {', '.join(MARKET_NAMES)}")
        return v


class ParticipantsSpec(Strict):
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
        return decimal_field(6, positive=True)(v)

    @model_validator(mode="after")
    def _range(self):
        if self.leverage_min > self.leverage_max:
            raise ValueError("leverage_min is above leverage_max")
        return self


class SimSpec(Strict):
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


class Header(Strict):
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


# ---- expectations ------------------------------------------------------------------------
class Expect(Strict):
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


class Expectations(Strict):
    always: Expect = Field(default_factory=Expect)
    safeguards_on: Expect = Field(default_factory=Expect)
    safeguards_off: Expect = Field(default_factory=Expect)


class Scenario(Strict):
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
    if len(loc) > 2 and loc[0] == "timeline" and loc[2] in ACTIONS:  # the union's tag, not a field
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
            msg = f"missing field 'action'; actions: {', '.join(sorted(ACTIONS))}"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown action {err.get('input', {}).get('action')!r}; actions: {', '.join(sorted(ACTIONS))}" \
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
