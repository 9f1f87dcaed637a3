"""Bad input: each is one ``rejected`` event with a stable code and a readable message; nothing changes."""

from __future__ import annotations

import math

import pytest
from engine_helpers import BTC, ETH, Venue, types

from engine.core.commands import NotACommand


@pytest.fixture
def setup():
    v = Venue.default()
    v.open_position("alice", "bob", "1")
    v.limit("carol", "buy", "1", "96000", client_order_id="dup")
    v.limit("dave", "sell", "1", "98000")
    v.ts += 1_000
    return v


def order(**kw):
    base = {"type": "place_order", "account": "carol", "market": BTC, "side": "buy", "size": "1", "price": "96000"}
    base.update(kw)
    return base


BAD = [
    # floats, NaN, Infinity (as JSON numbers and as strings), exponents, integers
    ("float size", order(size=1.0), "float_not_allowed"),
    ("float price", order(price=96000.5), "float_not_allowed"),
    ("nan number", order(price=math.nan), "float_not_allowed"),
    ("inf number", order(size=math.inf), "float_not_allowed"),
    ("NaN string", order(price="NaN"), "not_finite"),
    ("Infinity string", order(size="Infinity"), "not_finite"),
    ("-Infinity string", order(price="-Infinity"), "not_finite"),
    ("exponent", order(size="1e-3"), "bad_decimal"),
    ("integer json number", order(size=1), "number_not_allowed"),
    ("too many decimals", order(size="0.000000001"), "too_precise"),
    ("absurdly long number", {"type": "deposit", "account": "carol", "amount": "9" * 5000}, "too_large"),
    ("float amount", {"type": "deposit", "account": "carol", "amount": 10.0}, "float_not_allowed"),
    # negative or zero sizes / amounts
    ("negative size", order(size="-1"), "negative"),
    ("zero size", order(size="0"), "non_positive"),
    ("zero amount", {"type": "deposit", "account": "carol", "amount": "0"}, "non_positive"),
    ("negative amount", {"type": "withdraw", "account": "carol", "amount": "-5"}, "negative"),
    ("zero price", order(price="0"), "non_positive"),
    # (a zero oracle price is refused by the guard rails with an event and a flag: tests/engine/test_guards.py)
    # grids
    ("off tick", order(price="96000.05"), "off_tick"),
    ("off lot", order(size="0.0015"), "off_lot"),
    # unknowns
    ("unknown market", order(market="DOGE-USD-PERP"), "unknown_market"),
    ("unknown account", order(account="mallory"), "unknown_account"),
    ("withdraw unknown account", {"type": "withdraw", "account": "mallory", "amount": "1"}, "unknown_account"),
    ("cancel unknown order", {"type": "cancel_order", "account": "carol", "order_id": 999}, "unknown_order"),
    ("unknown oracle market", {"type": "oracle_price", "market": "X", "price": "1"}, "unknown_market"),
    ("unknown snapshot", {"type": "rollback", "snapshot_id": "nope"}, "unknown_snapshot"),
    # duplicates
    ("duplicate client order id", order(client_order_id="dup", price="95000"), "duplicate_client_order_id"),
    ("duplicate market", {"type": "create_market", "market": BTC, "tick_size": "0.1", "lot_size": "0.001",
                          "initial_margin": "0.02", "maintenance_margin": "0.01", "maker_fee": "0",
                          "taker_fee": "0.0002", "liquidation_fee": "0.007", "price_band": "0.05"}, "market_exists"),
    # margin
    ("withdraw beyond free collateral", {"type": "withdraw", "account": "alice", "amount": "999000"},
     "insufficient_margin"),
    ("order beyond margin", order(size="1000", price="96000"), "insufficient_margin"),
    # wrong types / flags / enums / fields
    ("post_only as string", order(post_only="true"), "bad_flag"),
    ("reduce_only as int", order(reduce_only=1), "bad_flag"),
    ("enabled as string", {"type": "set_platform_access", "enabled": "no"}, "bad_flag"),
    ("bad side", order(side="long"), "bad_value"),
    ("bad tif", order(time_in_force="day"), "bad_value"),
    ("bad order type", order(order_type="stop_limit"), "bad_value"),
    ("bad mode", {"type": "set_market_mode", "market": BTC, "mode": "closed"}, "bad_value"),
    ("account as number", order(account=7), "bad_type"),
    ("empty account", {"type": "deposit", "account": "", "amount": "1"}, "bad_value"),
    ("order id as string", {"type": "cancel_order", "account": "carol", "order_id": "1"}, "bad_value"),
    ("both ids", {"type": "cancel_order", "account": "carol", "order_id": 3, "client_order_id": "dup"}, "bad_value"),
    ("unknown field", order(leverage="50"), "unknown_field"),
    ("missing field", {"type": "deposit", "account": "carol"}, "missing_field"),
    ("limit without price", order(price=None), "missing_field"),
    ("tick without ts", {"type": "tick", "ts": None}, "missing_field"),
    ("ts as string", {"type": "deposit", "ts": "5", "account": "carol", "amount": "1"}, "bad_ts"),
    ("ts as float", {"type": "deposit", "ts": 5.0, "account": "carol", "amount": "1"}, "bad_ts"),
    # refused commands
    ("fok cannot fill", order(side="buy", price="98000", size="2", time_in_force="fok"), "fok_not_filled"),
    ("post_only crossing", order(price="98000", post_only=True), "post_only_would_cross"),
    ("reduce_only without position", order(reduce_only=True), "no_position"),
    ("price band", order(price="110000"), "price_band"),
    ("credit twice-unknown account", {"type": "credit", "account": "mallory", "amount": "1", "refund_id": "r1",
                                     "fund": "treasury"}, "unknown_account"),
    ("credit from empty insurance fund", {"type": "credit", "account": "carol", "amount": "1", "refund_id": "r1",
                                         "fund": "insurance"}, "insufficient_fund"),
]


@pytest.mark.parametrize(("obj", "code"), [pytest.param(o, c, id=name) for name, o, c in BAD])
def test_bad_input_is_rejected_without_change(setup, obj, code):
    v = setup
    obj = dict(obj)
    obj.setdefault("ts", v.ts)
    if obj.get("ts") is None:
        del obj["ts"]
    if obj.get("price", 0) is None:
        del obj["price"]
    before = v.hash()
    orders_before = dict(v.e.orders)
    evs = v.apply(obj)
    assert len(evs) == 1, evs
    ev = evs[0]
    assert ev["type"] == "rejected"
    assert ev["code"] == code, ev
    assert ev["command_type"] == obj["type"]
    assert isinstance(ev["message"], str) and len(ev["message"]) > 10
    assert ev["seq"] == v.e.seq
    assert v.hash() == before
    assert v.e.orders == orders_before
    assert v.checks() == []


def test_time_going_backwards(setup):
    v = setup
    v.tick(10_000)
    h = v.hash()
    for cmd in ({"type": "tick", "ts": v.ts - 1},
                {"type": "deposit", "ts": v.ts - 1, "account": "carol", "amount": "1"},
                {"type": "place_order", "ts": 0, "account": "carol", "market": BTC, "side": "buy", "size": "1",
                 "price": "96000"}):
        evs = v.apply(cmd)
        assert [e["code"] for e in evs if e["type"] == "rejected"] == ["ts_backwards"], evs
        assert "backwards" in evs[0]["message"]
    assert v.hash() == h
    assert "rejected" not in types(v.apply({"type": "tick", "ts": v.ts}))  # the same ts is fine


@pytest.mark.parametrize(("mode", "code"), [("post_only", "post_only_mode"), ("reduce_only", "reduce_only_mode"),
                                            ("cancel_only", "cancel_only"), ("halted", "market_halted")])
def test_orders_in_a_mode_that_forbids_them(setup, mode, code):
    v = setup
    v.op("set_market_mode", market=BTC, mode=mode)
    h = v.hash()
    evs = v.market("carol", "buy", "1")
    assert evs[0]["type"] == "rejected" and evs[0]["code"] == code
    assert v.hash() == h


def test_operator_reason_wrong_type(setup):
    h = setup.hash()
    evs = setup.apply({"type": "emergency_brake", "operator": "x", "reason": 5})
    assert evs[0]["code"] == "bad_type"
    assert setup.hash() == h and not setup.e.brake_engaged


def test_not_a_command_raises(setup):
    for obj in ({"type": "launch_rockets"}, {"no": "type"}, [1, 2], "deposit", {"type": 5}):
        with pytest.raises(NotACommand):
            setup.e.apply_obj(obj)


def test_rejected_command_still_takes_a_seq(setup):
    seq = setup.e.seq
    setup.apply({"type": "deposit", "account": "carol", "amount": 1.5})
    assert setup.e.seq == seq + 1
    ev = setup.deposit("carol", "1")[0]
    assert ev["seq"] == seq + 2


def test_same_client_order_id_in_another_market_is_still_a_duplicate(setup):
    evs = setup.limit("carol", "buy", "1", "3300", market=ETH, client_order_id="dup")
    assert evs[0]["code"] == "duplicate_client_order_id"


# ---- the fast path for plain place_order commands gives what the generic parser gives -------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VALUES = st.one_of(
    st.sampled_from(["a1", "a2", "BTC-USD-PERP", "ETH-USD-PERP", "buy", "sell", "limit", "market", "stop_loss",
                     "take_profit", "gtc", "ioc", "fok", "1", "0.5", "0.001", "97000", "97000.0", "96999.9", "0", "-1",
                     "1e3", " 1", "", "x" * 70, "c-1"]),
    st.booleans(), st.none(), st.integers(-5, 10**6), st.floats(allow_nan=True))
_KEYS = st.sampled_from(["account", "market", "side", "order_type", "size", "price", "trigger_price", "time_in_force",
                         "post_only", "reduce_only", "client_order_id", "ts", "seq", "bogus"])


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=12), st.booleans())
def test_fast_place_order_parse_equals_the_generic_parse(fields, warm):
    from engine.core.commands import CommandError, _fast_place_order, _parse_generic

    obj = {"type": "place_order", **fields}
    if warm:  # fill the parsers' caches the way earlier commands would
        try:
            _parse_generic(dict(obj), "place_order")
        except CommandError:
            pass
    fast = _fast_place_order(obj)
    if fast is None:
        return
    generic = _parse_generic(obj, "place_order")  # must accept what the fast path accepted
    assert list(fast.items()) == list(generic.args.items())
    assert generic.ts is None


def test_fast_place_order_parse_takes_a_warm_plain_order_and_declines_the_rest():
    from engine.core.commands import _fast_place_order, parse_command

    obj = {"type": "place_order", "account": "fp-a", "market": "BTC-USD-PERP", "side": "buy", "size": "0.25",
           "price": "97001.5", "post_only": True, "client_order_id": "fp-1"}
    cold = _fast_place_order(obj)
    generic = parse_command(obj)  # the first sight of these values goes through the generic parser
    warm = _fast_place_order(obj)
    assert cold is None and warm is not None and list(warm.items()) == list(generic.args.items())
    assert _fast_place_order({**obj, "ts": 5}) is None and _fast_place_order({**obj, "price": None}) is None
    assert _fast_place_order({**obj, "size": "0.250"}) is None  # an unseen spelling: the generic path decides
