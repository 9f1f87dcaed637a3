"""Read-only views for the console's risk-at-a-glance: what fires when a restricted market reopens, next funding."""

from __future__ import annotations

from engine_helpers import BTC, ETH, P, Venue, of_type

from engine.core.engine import FUNDING_INTERVAL_MS
from engine.node import views


def test_reopen_backlog_counts_crossed_triggers_without_firing_them(venue: Venue):
    venue.open_position("alice", "bob", "1")
    venue.limit("carol", "buy", "5", "90000")
    sl = of_type(venue.trigger("alice", "stop_loss", "sell", "1", "95000"), "order_accepted")[0]["order_id"]
    tp = of_type(venue.trigger("alice", "take_profit", "sell", "1", "99000"), "order_accepted")[0]["order_id"]
    assert views.reopen_backlog(venue.e, BTC)["triggers"] == 0  # the mark has crossed neither
    venue.op("pause_triggers", market=BTC)
    evs = venue.oracle("94000")
    assert not of_type(evs, "order_triggered") and venue.e.markets[BTC].mark_price == P("94000")
    h = venue.hash()
    b = views.reopen_backlog(venue.e, BTC)
    assert venue.hash() == h  # a read: nothing changed, nothing fired
    assert b["triggers"] == 1 and b["trigger_orders"] == [sl] and tp not in b["trigger_orders"]
    assert views.reopen_backlog(venue.e, ETH)["triggers"] == 0
    venue.cancel("alice", sl)  # a canceled trigger is not waiting any more
    assert views.reopen_backlog(venue.e, BTC)["triggers"] == 0


def test_reopen_backlog_counts_accounts_at_or_below_maintenance_in_the_market(venue: Venue):
    venue.deposit("erin", "2000")
    venue.deposit("frank", "2000")
    venue.no_breaker()
    venue.open_position("erin", "frank", "0.2")  # ~19,400 notional on 2,000: close to maintenance
    venue.op("pause_liquidations", market=BTC)
    assert views.reopen_backlog(venue.e, BTC)["liquidatable"] == 0
    venue.shock("87500")
    evs = venue.tick()
    assert not of_type(evs, "liquidation")  # paused: waiting
    b = views.reopen_backlog(venue.e, BTC)
    assert b["liquidatable"] == 1 and b["accounts"] == ["erin"]
    assert views.reopen_backlog(venue.e, ETH)["liquidatable"] == 0


def test_markets_view_names_the_next_funding_interval_close(venue: Venue):
    venue.ts = 5 * FUNDING_INTERVAL_MS + 1_234
    venue.tick(0)
    for m in views.markets(venue.e):
        assert m["next_funding_ts"] == 6 * FUNDING_INTERVAL_MS
        assert m["funding_rate_next"] == m["funding_rate"] or isinstance(m["funding_rate_next"], int)
