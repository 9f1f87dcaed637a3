"""The frozen desk's ladder slide (engine/venue/desk.py build_desk): what its caption says happens."""

from __future__ import annotations

from collections import Counter


def test_the_ladder_slide_deleverages_two_bankrupt_rungs_the_fund_paying_their_deficit():
    """8 longs liquidated in 10 events, 2 of them auto-deleveraged: rungs bankrupt when they came back from
    their cooldown to a book with no bid left; the fund (2.0M USDC) pays their deficit, nobody's loss is
    socialized. If this changes, the caption in build_desk is no longer true."""
    from engine.venue.desk import build_desk

    desk = build_desk(7, 200, frozen=True)
    events = desk.node.history(100_000)["events"]
    by = Counter(ev["by"] for ev in events if ev["type"] == "liquidation")
    assert by == {"book": 8, "adl": 2}
    adl = [ev for ev in events if ev["type"] == "deleverage"]
    assert [(ev["account"], ev["counterparty"], ev["size"]) for ev in adl] == [
        ("lev0000L", "lev0000S", 30_000_000), ("lev0004L", "lev0001S", 21_400_000)]
    paid = [ev for ev in events if ev["type"] == "insurance_fund" and ev["reason"] == "bankruptcy"]
    assert [(ev["account"], -ev["change"]) for ev in paid] == [("lev0000L", 5_650_398), ("lev0004L", 171_200)]
    assert all(ev["balance"] > 2_000_000_000_000 for ev in paid)  # the fund was never short
    assert not any(ev["type"] == "socialized_loss" for ev in events)
    assert desk.node.engine.socialized_loss == 0
    desk.node.close()
