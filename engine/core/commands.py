"""Commands: the journal vocabulary (see shared/CONTRACT.md), parsed at the boundary.

``parse_command(obj)`` turns a JSON object into a :class:`Command` whose ``args``
hold ints for every money, price, size and fraction field. It never raises for
a command of a known type: a bad field becomes a :class:`CommandError` that the
engine turns into a ``rejected`` event (journaled, no state change). Only an
object that is not a command at all (no ``type``, unknown ``type``) raises
:class:`NotACommand`, which stops a replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from engine.errors import PerpdeskError

from .fixedpoint import (
    AMOUNT_DECIMALS,
    FRAC_DECIMALS,
    FUNDING_DECIMALS,
    PRICE_DECIMALS,
    SIZE_DECIMALS,
    DecimalError,
    parse_decimal,
)

USER_COMMANDS = frozenset({"deposit", "withdraw", "place_order", "cancel_order", "cancel_all"})
MARKET_DATA_COMMANDS = frozenset({"oracle_price", "load_market_state", "tick"})
OPERATOR_COMMANDS = frozenset(
    {
        "create_market",
        "set_market_mode",
        "set_platform_access",
        "emergency_brake",
        "release_brake",
        "pause_liquidations",
        "resume_liquidations",
        "pause_triggers",
        "resume_triggers",
        "take_snapshot",
        "rollback",
        "schedule_maintenance",
        "credit",
        "fund_insurance",
        "set_safeguards",
        "set_market_params",
        "accept_oracle_price",
        # operator controls (docs/contract.md, "Operator controls")
        "cancel_maintenance",
        "reschedule_maintenance",
        "extend_maintenance",
        "set_withdrawals",
        "set_account_mode",
        "cancel_account_orders",
    }
)
ALL_COMMANDS = USER_COMMANDS | MARKET_DATA_COMMANDS | OPERATOR_COMMANDS

MODES = ("open", "post_only", "reduce_only", "cancel_only", "halted")
ORDER_TYPES = ("limit", "market", "stop_loss", "take_profit")
SIDES = ("buy", "sell")
TIFS = ("gtc", "ioc", "fok")
FUNDS = ("insurance", "treasury")
MAINTENANCE_KINDS = ("database_upgrade", "oracle_restart", "scale_up")
ACCOUNT_MODES = ("normal", "reduce_only", "frozen")

MAX_ID_LEN = 64

# ---- hard limits: nothing the canonical state holds may exceed a signed 64-bit integer ---------
# (orjson, the canonical encoding, holds integers up to 2**63 - 1 ~ 9.22e18). Every input is capped
# here so a value the state could not encode is a ``rejected`` event (code ``too_large``), never a
# crash later. The reasoning, cap by cap, is in docs/contract.md ("Bounds").
INT64_MAX: Final = 9_223_372_036_854_775_807
MAX_TS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z in ms
MAX_PRICE: Final = 1_000_000_000_000  # 1e12 micro-USDC = 1,000,000 USDC per base unit (funding index: price x 1e6)
MAX_SIZE: Final = 1_000_000_000_000_000_000  # 1e18 size units = 1e10 base units (one order, one position, one lot)
MAX_AMOUNT: Final = 10_000_000_000_000_000  # 1e16 micro-USDC = 1e10 USDC in one deposit / withdrawal / credit
MAX_FRAC: Final = 1_000_000_000_000  # 10000.0 as a fraction (the handlers hold each to its own range, <= 1)
MAX_FUNDING: Final = 1_000_000_000_000_000_000  # |funding index| 1e18 (1e-12 USDC / base unit): 1e6 USDC per unit
MAX_COUNT: Final = 1_000_000_000
MAX_ORDER_ID: Final = 4_611_686_018_427_387_904  # 2**62
# engine-level running totals (checked by the handlers, not here): cumulative deposits, and
# cumulative treasury inflows (credits from the treasury + fund_insurance), each at most 1e18
# micro-USDC (1e12 USDC); money held is their difference, far below 2**63
MAX_TOTAL_IN: Final = 1_000_000_000_000_000_000
# the position notional and the open interest of one market: hard ceilings for the per-market
# limits (max_position_notional in micro-USDC, open_interest_cap in size units)
MAX_POSITION_NOTIONAL: Final = 100_000_000_000_000_000  # 1e17 micro-USDC = 1e11 USDC
MAX_OPEN_INTEREST: Final = 4_000_000_000_000_000_000  # 4e18 size units per side


class CommandError(PerpdeskError):
    """A well-formed command the engine refuses; becomes a ``rejected`` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class NotACommand(PerpdeskError):
    """Not a command at all (not an object, no type, unknown type)."""

    code = "not_a_command"


class Command:
    __slots__ = ("type", "ts", "args", "raw")

    def __init__(self, type: str, ts: int | None, args: dict, raw: dict | None = None) -> None:
        self.type = type
        self.ts = ts
        self.args = args
        self.raw = raw

    def __repr__(self) -> str:
        return f"Command({self.type!r}, ts={self.ts}, {self.args!r})"


# field kinds -------------------------------------------------------------
# Identifiers (account and market names) and decimal strings repeat a lot in a
# journal: valid ones are remembered so the checks run once per distinct value.
# Pure functions of their input, so caching changes no result; the caches are
# simply dropped when they grow large.
_CACHE_MAX: Final = 200_000
_valid_idents: Final[set[str]] = set()


def _ident(v: object, field: str) -> str:
    if type(v) is str and v in _valid_idents:
        return v
    if type(v) is not str:
        raise CommandError("bad_type", f"{field} must be a string, got {_jtype(v)}")
    if not v or len(v) > MAX_ID_LEN or not v.isprintable() or v.strip() != v:
        raise CommandError("bad_value", f"{field} must be 1-{MAX_ID_LEN} printable characters")
    if len(_valid_idents) >= _CACHE_MAX:
        _valid_idents.clear()
    _valid_idents.add(v)
    return v


def _text(v: object, field: str) -> str:
    if type(v) is not str:
        raise CommandError("bad_type", f"{field} must be a string, got {_jtype(v)}")
    if len(v) > 1000:
        raise CommandError("bad_value", f"{field} is longer than 1000 characters")
    return v


def _bool(v: object, field: str) -> bool:
    if type(v) is not bool:
        raise CommandError("bad_flag", f"{field} must be true or false, got {v!r}")
    return v


def _int_ms(v: object, field: str) -> int:
    if type(v) is not int:
        raise CommandError("bad_type", f"{field} must be an integer number of milliseconds, got {v!r}")
    if v < 0:
        raise CommandError("bad_value", f"{field} must not be negative")
    if v > MAX_TS:
        raise CommandError("too_large", f"{field} {v} is beyond the largest time the engine holds ({MAX_TS} ms)")
    return v


class Field:
    """How one field of a command is parsed: ``field(value, name)`` returns the value inside or raises
    CommandError. A native class (compiled, ``parse_command`` calls ``parse`` directly, not through a
    Python-level call of a closure); ``kind`` picks the parser."""

    def __init__(self, kind: int, fn: Callable[[object, str], object] | None = None, decimals: int = 0,
                 positive: bool = False, signed: bool = False, choices: tuple[str, ...] = (),
                 limit: int = INT64_MAX, what: str = "") -> None:
        self.kind = kind
        self.limit = limit  # the largest magnitude accepted (too_large beyond it)
        self.what = what  # the limit in words, for the message
        self.fn = fn
        self.decimals = decimals
        self.positive = positive
        self.signed = signed
        self.choices = choices
        self.cache: dict[str, int] = {}  # decimal string -> value, for strings that parsed and passed

    def __call__(self, v: object, field: str) -> object:
        return self.parse(v, field)

    def parse(self, v: object, field: str) -> object:
        k = self.kind
        if k == _K_IDENT:
            return _ident(v, field)
        if k == _K_DEC:
            return self._dec(v, field)
        if k == _K_ENUM:
            if type(v) is not str or v not in self.choices:
                raise CommandError("bad_value", f"{field} must be one of {', '.join(self.choices)}; got {v!r}")
            return v
        if k == _K_BOOL:
            return _bool(v, field)
        fn = self.fn
        assert fn is not None
        return fn(v, field)

    def _dec(self, v: object, field: str) -> int:
        if type(v) is str:
            n = self.cache.get(v)
            if n is not None:
                return n
        try:
            n = parse_decimal(v, self.decimals, field, allow_negative=self.signed)
        except DecimalError as e:
            raise CommandError(e.code, e.message) from None
        if self.positive and n <= 0:
            raise CommandError("non_positive", f"{field} must be greater than zero, got {v!r}")
        if n > self.limit or -n > self.limit:
            raise CommandError("too_large", f"{field} {v} is beyond the largest value the engine accepts ({self.what})")
        if type(v) is str:
            cache = self.cache
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[v] = n
        return n


_K_IDENT: Final = 1
_K_DEC: Final = 2
_K_ENUM: Final = 3
_K_BOOL: Final = 4
_K_OTHER: Final = 5


def _dec(decimals: int, limit: int, what: str, *, positive: bool = False, signed: bool = False) -> Field:
    return Field(_K_DEC, decimals=decimals, positive=positive, signed=signed, limit=limit, what=what)


def _enum(choices: tuple[str, ...]) -> Field:
    return Field(_K_ENUM, choices=choices)


def _ident_list(v: object, field: str) -> list[str]:
    if type(v) is not list or not v:
        raise CommandError("bad_type", f"{field} must be a non-empty list of names")
    out = [_ident(x, field) for x in v]
    if len(set(out)) != len(out):
        raise CommandError("bad_value", f"{field} lists a name twice")
    return out


def _count(v: object, field: str) -> int:
    if type(v) is not int or v < 0:
        raise CommandError("bad_value", f"{field} must be a non-negative integer, got {v!r}")
    if v > MAX_COUNT:
        raise CommandError("too_large", f"{field} {v} is beyond {MAX_COUNT}")
    return v


def _order_id(v: object, field: str) -> int:
    if type(v) is not int or v <= 0:
        raise CommandError("bad_value", f"{field} must be a positive integer order id, got {v!r}")
    if v > MAX_ORDER_ID:
        raise CommandError("too_large", f"{field} {v} is beyond any order id the engine assigns")
    return v


def _tiers(v: object, field: str) -> list[list[int]]:
    """Margin tiers: a list of [notional_floor, initial_margin] pairs of decimal strings, floors strictly
    increasing and fractions strictly increasing; [] clears them."""
    if type(v) is not list or len(v) > 16:
        raise CommandError("bad_type", f"{field} must be a list of at most 16 [notional_floor, initial_margin] pairs")
    out: list[list[int]] = []
    for item in v:
        if type(item) is not list or len(item) != 2:
            raise CommandError("bad_type", f"{field}: each tier is a pair [notional_floor, initial_margin]")
        floor = _MONEY_LIMIT.parse(item[0], f"{field} notional_floor")
        frac = FRAC.parse(item[1], f"{field} initial_margin")
        assert isinstance(floor, int) and isinstance(frac, int)
        if frac <= 0:
            raise CommandError("non_positive", f"{field}: a tier's initial_margin must be greater than zero")
        if out and (floor <= out[-1][0] or frac <= out[-1][1]):
            raise CommandError("bad_value", f"{field}: notional floors and initial margins must both increase")
        out.append([floor, frac])
    return out


def _jtype(v: object) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list", dict: "an object"}.get(
        type(v), type(v).__name__
    ) if v is not None else "null"


IDENT: Final = Field(_K_IDENT)
BOOL: Final = Field(_K_BOOL)
TEXT: Final = Field(_K_OTHER, _text)
COUNT: Final = Field(_K_OTHER, _count)
ORDER_ID: Final = Field(_K_OTHER, _order_id)
INT_MS: Final = Field(_K_OTHER, _int_ms)
IDENT_LIST: Final = Field(_K_OTHER, _ident_list)
_W_PRICE = "1000000 USDC per unit"
AMOUNT = _dec(AMOUNT_DECIMALS, MAX_AMOUNT, "10000000000 USDC", positive=True)
PRICE: Final = _dec(PRICE_DECIMALS, MAX_PRICE, _W_PRICE, positive=True)
PRICE_ANY = _dec(PRICE_DECIMALS, MAX_PRICE, _W_PRICE)
SIZE: Final = _dec(SIZE_DECIMALS, MAX_SIZE, "10000000000 units", positive=True)
SIZE_LIMIT = _dec(SIZE_DECIMALS, MAX_SIZE, "10000000000 units", positive=True)  # max_order_size (own cache)
OI_LIMIT = _dec(SIZE_DECIMALS, MAX_OPEN_INTEREST, "40000000000 units", positive=True)
_MONEY_LIMIT = _dec(AMOUNT_DECIMALS, MAX_POSITION_NOTIONAL, "100000000000 USDC")
NOTIONAL_LIMIT = _dec(AMOUNT_DECIMALS, MAX_POSITION_NOTIONAL, "100000000000 USDC", positive=True)
FRAC = _dec(FRAC_DECIMALS, MAX_FRAC, "10000")
FUNDING = _dec(FUNDING_DECIMALS, MAX_FUNDING, "1000000 USDC per unit", signed=True)
TIERS: Final = Field(_K_OTHER, _tiers)

# type -> {field: (parser, required, default)}
R = True  # required
OPT = False  # optional
FieldSpec = dict[str, tuple[Field, bool, object]]
_OP: FieldSpec = {"operator": (IDENT, OPT, None), "reason": (TEXT, OPT, "")}
# guard-rail parameters of a market (create_market, set_market_params); None: keep / default
_GUARD_PARAMS: FieldSpec = {
    "post_only_band": (FRAC, OPT, None),
    "oracle_band": (FRAC, OPT, None),
    "oracle_stale_ms": (INT_MS, OPT, None),
    "breaker_accounts": (COUNT, OPT, None),
    "breaker_oi_share": (FRAC, OPT, None),
    "impact_notional": (AMOUNT, OPT, None),
}
GUARD_PARAMS = tuple(_GUARD_PARAMS)
# bounds of a market (create_market, set_market_params); None: keep / default (see markets.py)
_BOUND_PARAMS: FieldSpec = {
    "max_order_size": (SIZE_LIMIT, OPT, None),
    "max_position_notional": (NOTIONAL_LIMIT, OPT, None),
    "open_interest_cap": (OI_LIMIT, OPT, None),
    "margin_tiers": (TIERS, OPT, None),
}
BOUND_PARAMS = tuple(_BOUND_PARAMS)

SPECS: dict[str, FieldSpec] = {
    "deposit": {"account": (IDENT, R, None), "amount": (AMOUNT, R, None)},
    "withdraw": {"account": (IDENT, R, None), "amount": (AMOUNT, R, None)},
    "place_order": {
        "account": (IDENT, R, None),
        "market": (IDENT, R, None),
        "side": (_enum(SIDES), R, None),
        "order_type": (_enum(ORDER_TYPES), OPT, "limit"),
        "size": (SIZE, R, None),
        "price": (PRICE, OPT, None),
        "trigger_price": (PRICE, OPT, None),
        "time_in_force": (_enum(TIFS), OPT, "gtc"),
        "post_only": (BOOL, OPT, False),
        "reduce_only": (BOOL, OPT, False),
        "client_order_id": (IDENT, OPT, None),
    },
    "cancel_order": {
        "account": (IDENT, R, None),
        "order_id": (ORDER_ID, OPT, None),
        "client_order_id": (IDENT, OPT, None),
    },
    "cancel_all": {"account": (IDENT, R, None), "market": (IDENT, OPT, None)},
    "oracle_price": {"market": (IDENT, R, None), "price": (PRICE_ANY, R, None), "source": (IDENT, OPT, None),
                     "publish_ts": (INT_MS, OPT, None), "sources": (COUNT, OPT, None)},
    "load_market_state": {
        "market": (IDENT, R, None),
        "mark_price": (PRICE_ANY, R, None),
        "funding_index": (FUNDING, R, None),
        "source": (IDENT, OPT, None),
    },
    "tick": {},
    "create_market": {
        "market": (IDENT, R, None),
        "tick_size": (PRICE, R, None),
        "lot_size": (SIZE, R, None),
        "initial_margin": (FRAC, R, None),
        "maintenance_margin": (FRAC, R, None),
        "maker_fee": (_dec(FRAC_DECIMALS, MAX_FRAC, "10000", signed=True), R, None),
        "taker_fee": (FRAC, R, None),
        "liquidation_fee": (FRAC, R, None),
        "price_band": (FRAC, R, None),
        **_GUARD_PARAMS,
        **_BOUND_PARAMS,
        "index_price": (PRICE, OPT, None),
        **_OP,
    },
    "set_market_mode": {"market": (IDENT, R, None), "mode": (_enum(MODES), R, None), "override": (BOOL, OPT, False),
                        **_OP},
    "set_platform_access": {"enabled": (BOOL, R, None), **_OP},
    "emergency_brake": {**_OP},
    "release_brake": {"override": (BOOL, OPT, False), **_OP},
    "pause_liquidations": {"market": (IDENT, OPT, None), **_OP},
    "resume_liquidations": {"market": (IDENT, OPT, None), **_OP},
    "pause_triggers": {"market": (IDENT, OPT, None), **_OP},
    "resume_triggers": {"market": (IDENT, OPT, None), **_OP},
    "take_snapshot": {"label": (TEXT, OPT, ""), "trigger": (_enum(("auto", "manual", "maintenance")), OPT, "manual"), **_OP},
    "rollback": {"snapshot_id": (IDENT, R, None), **_OP},
    "schedule_maintenance": {
        "window_id": (IDENT, R, None),
        "markets": (IDENT_LIST, R, None),
        "start_ts": (INT_MS, R, None),
        "duration_ms": (INT_MS, R, None),
        "kind": (_enum(MAINTENANCE_KINDS), R, None),
        **_OP,
    },
    "credit": {
        "account": (IDENT, R, None),
        "amount": (AMOUNT, R, None),
        "refund_id": (IDENT, R, None),
        "fund": (_enum(FUNDS), R, None),
        **_OP,
    },
    "fund_insurance": {"amount": (AMOUNT, R, None), **_OP},
    "set_safeguards": {"enabled": (BOOL, R, None), **_OP},
    "set_market_params": {"market": (IDENT, R, None), **_GUARD_PARAMS, **_BOUND_PARAMS, **_OP},
    "accept_oracle_price": {"market": (IDENT, R, None), "price": (PRICE, R, None), **_OP},
    # operator controls
    "cancel_maintenance": {"window_id": (IDENT, R, None), **_OP},
    "reschedule_maintenance": {"window_id": (IDENT, R, None), "start_ts": (INT_MS, R, None), **_OP},
    "extend_maintenance": {"window_id": (IDENT, R, None), "duration_ms": (INT_MS, R, None), **_OP},
    "set_withdrawals": {"enabled": (BOOL, R, None), **_OP},
    "set_account_mode": {"account": (IDENT, R, None), "mode": (_enum(ACCOUNT_MODES), R, None), **_OP},
    "cancel_account_orders": {"account": (IDENT, R, None), "market": (IDENT, OPT, None), **_OP},
}
assert set(SPECS) == ALL_COMMANDS

# a required field not given yet (parse_command's template holds it until the field is parsed)
_MISSING: Final = object()

# per type: (fields, template, required fields in spec order). The template has every field in spec
# order (optional ones at their default, required ones _MISSING), so parsed args always list their
# fields in the same order, whatever the order of the input object's keys
_PLANS: dict[str, tuple[FieldSpec, dict[str, object], tuple[str, ...]]] = {
    t: (spec, {k: (_MISSING if f[1] else f[2]) for k, f in spec.items()}, tuple(k for k, f in spec.items() if f[1]))
    for t, spec in SPECS.items()
}

_COMMON = frozenset({"type", "ts", "seq"})
_PLACE_TEMPLATE: Final = _PLANS["place_order"][1]


def command_type(obj: object) -> str:
    """The command's type, or raise :class:`NotACommand` with a readable reason."""
    if not isinstance(obj, dict):
        raise NotACommand(f"expected a JSON object, got {_jtype(obj)}")
    t = obj.get("type")
    if t is None:
        raise NotACommand('the object has no "type"')
    if type(t) is not str or t not in SPECS:
        raise NotACommand(f"unknown command type {t!r}")
    return t


def _fast_place_order(obj: dict) -> dict | None:
    """The args of a plain, valid ``place_order`` whose every value was seen and accepted before
    (identifiers and decimal strings in the parsers' caches); None for anything else, which the
    generic parser then handles from scratch (so every refusal and its message come from there).
    Gives exactly what the generic parser gives (tests/engine/test_bad_input.py compares them)."""
    args = _PLACE_TEMPLATE.copy()
    # (Any: the cached values go into args as the objects they are, never unboxed and boxed again)
    sizes: dict[str, Any] = SIZE.cache
    prices: dict[str, Any] = PRICE.cache
    for kobj, v in obj.items():
        if type(kobj) is not str:
            return None
        key: str = kobj  # (typed: compiled, the comparisons below are native string compares)
        if key == "type":
            continue
        if type(v) is not str:
            if type(v) is bool and (key == "post_only" or key == "reduce_only"):
                args[key] = v
                continue
            return None  # ts, nulls, numbers: the generic path
        if key == "account" or key == "market":
            if v not in _valid_idents:
                return None
            args[key] = v
        elif key == "client_order_id":  # new on nearly every order: checked here, as _ident checks
            # (_ident's rules, without its cache: a client order id is new on nearly every order)
            if not v or len(v) > MAX_ID_LEN or not v.isprintable() or v.strip() != v:
                return None
            args[key] = v
        elif key == "price" or key == "trigger_price":
            n = prices.get(v)
            if n is None:
                return None
            args[key] = n
        elif key == "size":
            n = sizes.get(v)
            if n is None:
                return None
            args[key] = n
        elif key == "side":
            if v != "buy" and v != "sell":
                return None
            args[key] = v
        elif key == "order_type":
            if v != "limit" and v != "market" and v != "stop_loss" and v != "take_profit":
                return None
            args[key] = v
        elif key == "time_in_force":
            if v != "gtc" and v != "ioc" and v != "fok":
                return None
            args[key] = v
        else:
            return None
    if args["account"] is _MISSING or args["market"] is _MISSING or args["side"] is _MISSING or args["size"] is _MISSING:
        return None
    return args


def parse_command(obj: object) -> Command:
    """Parse one JSON object. Raises NotACommand, or CommandError (with the type known)."""
    t = command_type(obj)
    assert isinstance(obj, dict)  # command_type refuses anything else
    if t == "place_order":  # the hottest command, when it is plain (no ts) and valid
        fast = _fast_place_order(obj)
        if fast is not None:
            return Command(t, None, fast, obj)
    return _parse_generic(obj, t)


def _parse_generic(obj: dict, t: str) -> Command:
    spec, defaults, required = _PLANS[t]
    ts = obj.get("ts")
    if ts is not None and (type(ts) is not int or ts < 0):
        raise CommandError("bad_ts", f"ts must be a non-negative integer of milliseconds, got {ts!r}")
    if ts is not None and ts > MAX_TS:
        raise CommandError("too_large", f"ts {ts} is beyond the largest time the engine holds ({MAX_TS} ms, year 9999)")
    if t == "tick" and ts is None:
        raise CommandError("missing_field", "tick needs ts")
    args = defaults.copy()  # optional fields start at their defaults (a null keeps the default), required ones _MISSING
    for key, value in obj.items():
        f = spec.get(key)
        if f is None:
            if key in _COMMON:
                continue
            raise CommandError("unknown_field", f"{t} has no field {key!r}")
        if value is None and not f[1]:
            continue
        args[key] = f[0].parse(value, key)
    for key in required:
        if args[key] is _MISSING:
            raise CommandError("missing_field", f"{t} needs {key}")
    return Command(t, ts, args, obj)


def make(type: str, ts: int | None = None, **fields) -> Command:
    """Build a command from wire-form fields (decimal strings), for code and tests."""
    obj = {"type": type, **fields}
    if ts is not None:
        obj["ts"] = ts
    return parse_command(obj)
