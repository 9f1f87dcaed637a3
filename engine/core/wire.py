"""Wire form: events and state as JSON with decimal strings (CONTRACT.md, Encoding)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import orjson

from engine.errors import PerpdeskError

from .checks import run_checks
from .commands import NotACommand
from .fixedpoint import (
    fmt_amount,
    fmt_frac,
    fmt_funding,
    fmt_price,
    fmt_size,
)
from .margin import account_margins, funding_pnl
from .snapshot import state_hash

if TYPE_CHECKING:
    from .engine import Engine

# formatted values repeat a lot (prices on the tick grid, lot sizes, fees): each formatter
# keeps a bounded cache int -> decimal string (a pure function, so caching changes nothing)
_CACHE_MAX: Final = 100_000
_PRICE: dict[int, str] = {}
_SIZE: dict[int, str] = {}
_AMOUNT: dict[int, str] = {}
_FUNDING: dict[int, str] = {}
_FRAC: dict[int, str] = {}

_FORMATTERS: Final[dict[str, tuple[Callable[[int], str], dict[int, str]]]] = {}
for _k in ("price", "mark_price", "index_price", "trigger_price", "avg_price", "previous_index", "bankruptcy_price"):
    _FORMATTERS[_k] = (fmt_price, _PRICE)
for _k in ("size", "remaining", "filled", "long_oi", "short_oi", "open_interest"):
    _FORMATTERS[_k] = (fmt_size, _SIZE)
for _k in ("amount", "fee", "maker_fee", "taker_fee", "bad_debt", "balance", "change", "total"):
    _FORMATTERS[_k] = (fmt_amount, _AMOUNT)
_FORMATTERS["funding_index"] = (fmt_funding, _FUNDING)
_FORMATTERS["rate"] = (fmt_frac, _FRAC)
_FORMATTERS["premium"] = (fmt_frac, _FRAC)


def _cached(f: Callable[[int], str], cache: dict[int, str], v: int) -> str:
    s = cache.get(v)
    if s is None:
        s = f(v)
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[v] = s
    return s


# the formatted fields each of the hottest event types may carry (a plan per type: a few lookups
# instead of walking every item of the event). Each list must hold EVERY key of _FORMATTERS that an
# event of that type can have: tests/engine/test_wire_plans.py checks every site that builds one
# (and the place_order spec that order_accepted copies) and compares with the generic walk.
_PlanStep = tuple[str, Callable[[int], str], dict[Any, str]]  # (Any: looked up with the boxed value as is)
_TYPE_PLANS: Final[dict[str, tuple[_PlanStep, ...]]] = {
    t: tuple((k, _FORMATTERS[k][0], _FORMATTERS[k][1]) for k in keys)
    for t, keys in {
        "order_accepted": ("size", "price", "trigger_price"),
        "order_canceled": ("size", "remaining"),
        "trade": ("price", "size", "maker_fee", "taker_fee"),
    }.items()
}
_DUMPS: Final = orjson.dumps
_OPT_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE


def _format_in_place(ev: dict) -> None:
    """Money, prices and sizes (ints under a known key; never bools) as decimal strings, in place."""
    t = ev.get("type")
    plan = _TYPE_PLANS.get(t) if type(t) is str else None
    if plan is not None:
        for k, fmt, cache in plan:
            o: object = ev.get(k)
            v = o
            if type(v) is int:  # (narrows v, not o: the lookup takes the object as it is, unboxed never)
                s = cache.get(o)
                if s is None:
                    s = _cached(fmt, cache, v)
                ev[k] = s
        return
    _format_walk(ev)


def _format_walk(ev: dict) -> None:
    """The generic form of _format_in_place: every item of the event."""
    for k, v in ev.items():  # replacing values (not keys) while iterating is fine
        if type(v) is int:
            fc = _FORMATTERS.get(k)
            if fc is not None:
                cache = fc[1]
                s = cache.get(v)
                if s is None:
                    s = _cached(fc[0], cache, v)
                ev[k] = s


def event_to_wire(ev: dict) -> dict:
    """Money, prices and sizes as decimal strings; everything else as is (key order kept)."""
    out = ev.copy()
    _format_in_place(out)
    return out


def write_events_jsonl(evs: list[dict], buf: bytearray) -> None:
    """Append each event's wire form to ``buf`` as one JSON line (what ``perpdesk replay`` writes).

    The event dicts are formatted IN PLACE (no copy): only for a caller that owns them and
    drops them afterwards. Same bytes as ``orjson.dumps(event_to_wire(ev)) + b"\n"``.
    """
    for ev in evs:
        _format_in_place(ev)
        buf += _DUMPS(ev, option=_OPT_NEWLINE)


class LineError(PerpdeskError):
    """A replay input line that is not JSON or not a command (``line_no`` counts from 1)."""

    code = "bad_journal_line"

    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(message)
        self.line_no = line_no


_FLUSH_AT: Final = 1 << 20  # with a sink, events leave the buffer in pieces of about this size


def apply_lines(eng: Engine, lines: Iterable[bytes], buf: bytearray | None,
                on_events: Callable[[list[dict]], object] | None = None,
                sink: Callable[[bytearray], object] | None = None) -> None:
    """``perpdesk replay``'s loop, compiled: parse each JSONL line, apply it, append its events'
    wire form to ``buf`` (None: not written) and hand them to ``on_events`` first, if given. Blank
    lines are skipped; a line that is not JSON or not a command raises LineError before anything
    of it is applied. With ``sink``, the buffer is handed to it (and emptied) whenever it holds a
    megabyte or more, and at the end: the events stream out instead of piling up in memory."""
    loads = orjson.loads
    n = 0
    for line in lines:
        n += 1
        if not line or line.isspace():
            continue
        try:
            obj = loads(line)
        except orjson.JSONDecodeError as e:
            raise LineError(n, f"not JSON ({e})") from None
        try:
            evs = eng.apply_obj(obj)  # parsing raises NotACommand before anything changes
        except NotACommand as e:
            raise LineError(n, f"not a command: {e}") from None
        if on_events is not None:
            on_events(evs)
        if buf is not None:
            write_events_jsonl(evs, buf)
            if sink is not None and len(buf) >= _FLUSH_AT:
                sink(buf)
                buf.clear()
    if sink is not None and buf:
        sink(buf)
        buf.clear()


def _order_id(o) -> int:
    return o.id


def render_state(engine: Engine) -> dict:
    """The canonical state for people and files (STATE.json), with ``state_hash``."""
    markets = {}
    for m, mk in engine.markets.items():
        markets[m] = {
            "mode": mk.mode,
            "index_price": fmt_price(mk.index_price),
            "mark_price": fmt_price(mk.mark_price),
            "funding_index": fmt_funding(mk.funding_index),
            "funding_rate": fmt_frac(mk.funding_rate),
            "open_interest": fmt_size(mk.long_oi),
            "liquidations_paused": mk.liquidations_paused,
            "flags": sorted(mk.flags),
            "open_orders": sum(lv.count for lv in mk.book.bids.values()) + sum(lv.count for lv in mk.book.asks.values()),
        }
    accounts = {}
    for name in sorted(engine.accounts):
        a = engine.accounts[name]
        value, im, mm = account_margins(a, engine.markets)
        positions = {}
        for m in sorted(a.positions):
            p = a.positions[m]
            if not p.size:
                continue
            mk = engine.markets[m]
            positions[m] = {
                "size": fmt_size(p.size),
                "entry_price": fmt_price(abs(p.cost) * 10**8 // abs(p.size)),
                "funding_pnl": fmt_amount(funding_pnl(p.size, mk.funding_index, p.funding_entry)),
            }
        accounts[name] = {
            "collateral": fmt_amount(a.cash + sum(p.cost for p in a.positions.values())),
            "cash": fmt_amount(a.cash),
            "account_value": fmt_amount(value),
            "initial_margin": fmt_amount(im),
            "maintenance_margin": fmt_amount(mm),
            "positions": positions,
        }
    orders = [
        {"order_id": o.id, "account": o.account, "market": o.market, "side": "buy" if o.side > 0 else "sell",
         "order_type": o.order_type, "price": _cached(fmt_price, _PRICE, o.price) if o.order_type == "limit" else None,
         "trigger_price": _cached(fmt_price, _PRICE, o.trigger_price) if o.trigger_price else None,
         "size": _cached(fmt_size, _SIZE, o.size), "remaining": _cached(fmt_size, _SIZE, o.remaining),
         "client_order_id": o.client_order_id}
        for o in sorted(engine.orders.values(), key=_order_id)
    ]
    return {
        "seq": engine.seq,
        "ts": engine.now,
        "markets": markets,
        "accounts": accounts,
        "open_orders": orders,
        "insurance_fund": fmt_amount(engine.insurance_fund),
        "fee_pool": fmt_amount(engine.fee_pool),
        "funding_pool": fmt_amount(engine.funding_pool),
        "socialized_loss": fmt_amount(engine.socialized_loss),
        "platform_access": engine.platform_access,
        "brake_engaged": engine.brake_engaged,
        "safeguards": engine.safeguards,
        "validation": [{"check": f.check, "detail": f.detail} for f in run_checks(engine)],
        "state_hash": state_hash(engine),
    }
