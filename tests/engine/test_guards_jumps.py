"""Oracle guard rails that follow a real move: a jump beyond the oracle band is accepted when it
persists, when the feed's index says several sources agree, or when an approver accepts it by hand
(``oracle_jump_accepted``); the venue is never held on a stale price after a real move."""

from __future__ import annotations

from engine_helpers import BTC, P, Venue, of_type, one, rejected_code, types

from engine.core.guards import JUMP_CONFIRM_MS
from engine.node.roles import Actor


def test_a_frozen_oracle_then_a_real_fall_is_followed_within_the_confirmation_period():
    """The incident: the oracle froze for 15 minutes while the market fell 8%; after the thaw every
    price was refused as an unconfirmed jump, for good. Now the fall is accepted once it persists."""
    v = Venue.default()
    v.oracle("97000", source="index")
    for _ in range(900):  # 15 minutes of ticks, no oracle price
        v.tick(1_000)
    mk = v.e.markets[BTC]
    assert "oracle_stale" in mk.flags
    thaw = v.ts
    refused = 0
    accepted = None
    price = 89240  # 8% lower, and still moving a little
    for i in range(120):
        v.ts += 1_000
        evs = v.oracle(str(price - (i % 7) * 10), source="index") + v.cmd("tick")
        refused += len(of_type(evs, "oracle_rejected"))
        if of_type(evs, "oracle_jump_accepted"):
            accepted = one(evs, "oracle_jump_accepted")
            break
    assert accepted is not None, "the venue is still held on the stale price"
    assert accepted["reason"] == "persisted" and accepted["refused_count"] == refused
    assert accepted["since_ts"] == thaw + 1_000 and v.ts - thaw <= JUMP_CONFIRM_MS + 1_000
    assert accepted["previous_index"] == P("97000")
    assert mk.index_price == accepted["price"] and mk.mark_price == mk.index_price
    assert not mk.flags and mk.oracle_jump is None and mk.oracle_pending is None
    # and it follows the world from here on, one source or not
    assert one(v.oracle("89100", source="index"), "oracle_updated")["price"] == P("89100")
    assert v.checks() == []


def test_prints_that_flap_or_jump_around_do_not_persist():
    v = Venue.default()
    mk = v.e.markets[BTC]
    for i in range(90):  # -8% and +8% in turn: never one direction for long
        v.ts += 1_000
        assert one(v.oracle("89240" if i % 2 else "104760", source="feed"), "oracle_rejected")
    for i in range(90):  # one direction, but each print far from the one before (beyond the band)
        v.ts += 1_000
        assert one(v.oracle("89240" if i % 2 else "80000", source="feed"), "oracle_rejected")
    assert mk.index_price == P("97000") and "oracle_rejected" in mk.flags


def test_a_persisting_run_that_goes_quiet_starts_again():
    v = Venue.default()
    for _ in range(10):
        v.ts += 1_000
        v.oracle("89240", source="feed")
    v.ts += 60_000  # silent longer than oracle_stale_ms: the run starts again at the next print
    for _ in range(30):
        v.ts += 1_000
        assert one(v.oracle("89240", source="feed"), "oracle_rejected")
    v.ts += 1_000
    assert one(v.oracle("89240", source="feed"), "oracle_jump_accepted")["reason"] == "persisted"


def test_an_index_of_agreeing_sources_is_accepted_at_once(venue):
    evs = venue.oracle("89240", source="index", sources=3)
    assert types(evs)[:2] == ["oracle_jump_accepted", "oracle_updated"]
    ev = evs[0]
    assert (ev["reason"], ev["price"], ev["refused_count"], ev["since_ts"]) == ("sources_agree", P("89240"), 0, None)
    assert venue.e.markets[BTC].index_price == P("89240")
    # one source alone is not an agreement
    assert one(venue.oracle("80000", source="index", sources=1), "oracle_rejected")["code"] == "jump_unconfirmed"
    assert rejected_code(venue.oracle("80000", source="index", sources=-1)) == "bad_value"


def test_an_approver_accepts_a_held_price_by_hand(venue):
    for _ in range(3):
        venue.ts += 1_000
        one(venue.oracle("89240", source="index"), "oracle_rejected")
    mk = venue.e.markets[BTC]
    h = venue.hash()
    evs = venue.cmd("accept_oracle_price", market=BTC, price="89240", operator="april", reason="  ")
    assert rejected_code(evs) == "missing_reason" and venue.hash() == h
    assert rejected_code(venue.cmd("accept_oracle_price", market=BTC, price="0", operator="april",
                                   reason="x")) == "non_positive"
    evs = venue.cmd("accept_oracle_price", market=BTC, price="89240", operator="april",
                    reason="BTC fell 8% on every venue; feed confirmed by phone")
    ev = one(evs, "oracle_jump_accepted")
    assert (ev["reason"], ev["refused_count"], ev["operator"]) == ("manual", 3, "april")
    assert "every venue" in ev["operator_reason"]
    up = one(evs, "oracle_updated")
    assert (up["source"], up["operator"], up["price"]) == ("manual", "april", P("89240"))
    assert one(evs, "market_unflagged")["flag"] == "oracle_rejected"
    assert mk.index_price == P("89240") and not mk.flags and mk.oracle_jump is None


def test_only_approvers_and_admins_may_accept_an_oracle_price():
    for role, ok in (("viewer", False), ("operator", False), ("approver", True), ("admin", True)):
        assert Actor("x", role).may("accept_oracle_price") is ok
