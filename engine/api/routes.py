"""The API's routes, one table shared by the server (``engine/venue/app.py``) and the client
(``engine/api/client.py``): a route per gateway read, per feed read and per action.

Reads are ``GET`` with query parameters: name -> (path, ((param, type, default), ...)); a default of
:data:`REQUIRED` makes the parameter required. Actions are ``POST`` with a JSON body: name ->
(path, body model); each answers an :class:`~engine.api.models.OutcomeModel`.
"""

from __future__ import annotations

from . import models as m

PREFIX = "/v1"
REQUIRED = ...

#: gateway reads
READS: dict[str, tuple[str, tuple[tuple[str, type, object], ...]]] = {
    "status": ("/status", ()),
    "markets": ("/markets", ()),
    "account": ("/account", (("name", str, REQUIRED),)),
    "accounts": ("/accounts", (("limit", int, 500), ("offset", int, 0), ("query", str, ""))),
    "book": ("/book", (("market", str, REQUIRED), ("levels", int, 10))),
    "accounts_by_risk": ("/accounts/by-risk", (("limit", int, 300), ("below_maintenance", bool, False))),
    "reopen_backlog": ("/markets/reopen-backlog", (("market", str, REQUIRED),)),
    "checks": ("/checks", ()),
    "snapshots": ("/snapshots", ()),
    "brake_preview": ("/brake/preview", ()),
    "rollback_preview": ("/rollback/preview", (("snapshot_id", str, REQUIRED),)),
    "audit": ("/audit", (("limit", int, 500), ("query", str, ""))),
    "refunds": ("/refunds", ()),
    "maintenance_windows": ("/maintenance", ()),
    "alert_deliveries": ("/alerts/deliveries", (("limit", int, 200),)),
    "alert_sinks": ("/alerts/sinks", ()),
    "feed_health": ("/feeds/health", ()),
    "reference_refunds": ("/refunds/reference", (("from_seq", int, REQUIRED), ("to_seq", int, REQUIRED),
                                                  ("reference_ts", int, REQUIRED), ("market", str, None))),
    "suspect_inputs": ("/refunds/suspect-inputs", (("from_seq", int, REQUIRED), ("to_seq", int, REQUIRED))),
    "recompute_refund": ("/refunds/recompute", (("refund_id", str, REQUIRED),)),
    "sessions": ("/sessions", ()),
}

#: event-feed reads (the venue's bounded buffers of what the node published)
FEED_READS: dict[str, tuple[str, tuple[tuple[str, type, object], ...]]] = {
    "counters": ("/feed/counters", ()),
    "last_minute": ("/feed/last-minute", (("now", int, REQUIRED),)),
    "per_minute": ("/feed/per-minute", (("now", int, REQUIRED), ("minutes", int, 30))),
    "liquidations": ("/feed/liquidations", ()),
    "liquidations_since": ("/feed/liquidations-since", (("n", int, REQUIRED),)),
    "mark_history": ("/feed/mark-history", (("market", str, REQUIRED),)),
    "mark_histories": ("/feed/mark-histories", ()),
    "recent_trades": ("/feed/recent-trades", (("market", str, REQUIRED), ("k", int, 40))),
    "fund_history": ("/feed/fund-history", (("k", int, 200),)),
    "recent_alerts": ("/feed/recent-alerts", (("k", int, 8),)),
    "restored_from": ("/feed/restored-from", ()),
    "sizes": ("/feed/sizes", ()),
}

#: reads that are bounded and cheap (the venue answers them without a thread hop)
FAST_READS = frozenset({
    "status", "markets", "account", "book", "sessions", "counters", "last_minute", "per_minute",
    "liquidations", "liquidations_since", "mark_history", "mark_histories", "recent_trades", "fund_history",
    "recent_alerts", "restored_from", "sizes", "alert_sinks",
})

#: actions (gateway writes): name -> (path, body model)
ACTIONS: dict[str, tuple[str, type]] = {
    "emergency_brake": ("/brake", m.Reason),
    "release_brake": ("/brake/release", m.Reason),
    "take_snapshot": ("/snapshots", m.SnapshotBody),
    "rollback": ("/rollback", m.RollbackBody),
    "schedule_maintenance": ("/maintenance", m.ScheduleMaintenanceBody),
    "cancel_maintenance": ("/maintenance/cancel", m.WindowBody),
    "reschedule_maintenance": ("/maintenance/reschedule", m.RescheduleBody),
    "extend_maintenance": ("/maintenance/extend", m.ExtendBody),
    "pause_liquidations": ("/liquidations/pause", m.MarketReason),
    "resume_liquidations": ("/liquidations/resume", m.MarketReason),
    "pause_triggers": ("/triggers/pause", m.MarketReason),
    "resume_triggers": ("/triggers/resume", m.MarketReason),
    "set_market_mode": ("/markets/mode", m.MarketModeBody),
    "set_platform_access": ("/venue/access", m.EnabledBody),
    "set_withdrawals": ("/venue/withdrawals", m.EnabledBody),
    "set_safeguards": ("/venue/safeguards", m.EnabledBody),
    "set_account_mode": ("/accounts/mode", m.AccountModeBody),
    "cancel_account_orders": ("/accounts/cancel-orders", m.AccountOrdersBody),
    "propose_refund": ("/refunds", m.ProposeRefundBody),
    "decide_refund": ("/refunds/decide", m.DecideRefundBody),
    "pay_refund": ("/refunds/pay", m.PayRefundBody),
    "propose_refunds": ("/refunds/propose-batch", m.ProposeRefundsBody),
}

#: a read with a structured input: POST, JSON body, plain data back
COMPUTE_REFUNDS = "/refunds/compute"
#: what every console refresh reads, in one request: status, markets, feed counters, the last minute's
#: liquidations per market, the market's rate, who is attached
OVERVIEW = "/overview"
COMMANDS = "/commands"
WHOAMI = "/whoami"
HEALTH = "/health"
EVENTS = "/events"
SESSIONS = "/sessions"
PROGRESS = "/venue/progress"
OPENAPI = "/openapi.json"
