"""The event vocabulary: every event type the venue publishes, with its fields, severity and wording.

One registry (:data:`REGISTRY`, name -> :class:`EventType`) from which everything that turns events
into words is derived:

* the console's alerts feed (``engine/venue/feed.py``): the types with ``feed=True``, their line
  (:func:`line`) and colour (:func:`console_level`); the same set is rebuilt from the journal at start;
* a scenario's timeline (``engine/sim/runner.py``): ``timeline="line"`` types get a line of their
  own (the same :func:`line`, unless ``routine`` says the event is routine: an automatic snapshot, the
  genesis import), ``timeline="count"`` types are counted per step; ``safeguard=True`` types are the
  report's ``safeguard_events``;
* the alert rules (``engine/outside/alerts.py``): a type with an ``alert`` rule raises the alert that rule
  returns (an :class:`AlertSpec`); the dispatcher sends exactly the types that have a rule.

Pure: no I/O, no engine imports (the console loads it without the engine core). Money and prices in
events are integers in fixed point (1e-6); they are formatted here with the same rule as
``engine.core.fixedpoint`` (no trailing zeros). A test (``tests/engine/test_vocabulary.py``) scans the
engine's sources for every event type they can emit and fails when one is missing here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: severities, lowest first (PagerDuty's vocabulary, used by alerts and sinks' ``min_severity``)
SEVERITIES = ("info", "warning", "error", "critical")

#: the validation checks the gate runs (engine/core/checks.py CHECKS, in its order; a test holds them
#: equal), each with what it means in words: the console lists every one, passed or failed
VALIDATION_CHECKS: dict[str, str] = {
    "money_conserved": "money conserved: accounts, insurance fund, fees and funding hold what came in",
    "open_interest_balanced": "open interest balanced: longs equal shorts in every market",
    "book_not_crossed": "books not crossed: best bid below best ask",
    "orders_consistent": "orders consistent: the books and the accounts' orders agree",
    "indices_bounded": "prices sane: index and mark positive and within bounds",
    "solvency": "solvency: no flat account owes cash; the fund and the fee pool are not negative",
}
#: how the console colours a line of each severity (Textual's notification levels)
_CONSOLE_LEVEL = {"info": "information", "warning": "warning", "error": "error", "critical": "error"}


@dataclass(frozen=True)
class AlertSpec:
    """What an alert rule returns; ``engine.outside.alerts`` turns it into an ``Alert`` (``key`` is prefixed
    with the venue to make the dedup key; a resolve reuses its trigger's key and severity)."""

    kind: str
    severity: str
    title: str
    body: str
    key: str
    fields: dict[str, str] = field(default_factory=dict)
    action: str = "trigger"


@dataclass(frozen=True)
class EventType:
    name: str
    #: the event's fields (besides ``type`` and ``seq``, which every event has)
    fields: tuple[str, ...]
    #: the one human line for this event (feed, timeline)
    text: Callable[[dict], str] | None = None
    #: the line's severity (console colour); the alert rule sets the paging severity itself
    severity: str = "info"
    #: shown in the console's alerts feed (and rebuilt from the journal at start)
    feed: bool = False
    #: in a scenario timeline: "line" (a line of its own), "count" (counted per step) or "" (nothing)
    timeline: str = ""
    #: events of this type the timeline leaves out (routine ones)
    routine: Callable[[dict], bool] | None = None
    #: a guard-rail event (a scenario report's ``safeguard_events``)
    safeguard: bool = False
    #: the alert rule (None: this type never raises an alert)
    alert: Callable[[dict], AlertSpec | None] | None = None

    def line(self, ev: dict) -> str:
        return self.text(ev) if self.text is not None else self.name.replace("_", " ")


# ---------------------------------------------------------------------------
# formatting (no engine imports)
# ---------------------------------------------------------------------------
def _dec(n: int, decimals: int = 6) -> str:
    scale = 10**decimals
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), scale)
    return sign + (str(q) if not r else str(q) + "." + str(scale + r)[1:].rstrip("0"))


def s(v) -> str:
    """A field as text (``—`` for none; lists joined)."""
    if v is None:
        return "—"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "—"
    return str(v)


def price(v) -> str:
    """A fixed-point price (1e-6) or amount as a decimal string; anything else as :func:`s`."""
    if isinstance(v, int) and not isinstance(v, bool):
        return _dec(v)
    return s(v)


amount = price  # money has the same scale (1e-6 USDC)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _list(v) -> list:
    return v if isinstance(v, list) else [] if v is None else [v]


def _join(v) -> str:
    return "; ".join(map(str, _list(v)))


def _all(m) -> str:
    return m or "all markets"


# ---------------------------------------------------------------------------
# wording
# ---------------------------------------------------------------------------
def _brake_engaged(e: dict) -> str:
    return (f"BRAKE ENGAGED by {e.get('operator', '?')}: "
            f"{e.get('canceled_orders', 0)} orders canceled, {e.get('kept_tpsl', 0)} TP/SL kept")


def _oracle_jump(e: dict) -> str:
    by = f", by {e.get('operator')}" if e.get("operator") else ""
    return (f"oracle jump on {e.get('market')} ACCEPTED ({e.get('reason')}{by}) after "
            f"{e.get('refused_count')} refused prints")


def _market_state_loaded(e: dict) -> str:
    return f"market state loaded for {e.get('market')} from {e.get('source') or 'infrastructure'}"


def _maintenance_phase(e: dict) -> str:
    what = [str(e["kind"]).replace("_", " ")] if e.get("kind") else []
    what += [str(m).split("-")[0] for m in _list(e.get("markets"))]
    return f"maintenance {e.get('window_id')}{' (' + ', '.join(what) + ')' if what else ''}: {e.get('phase')}"


# ---------------------------------------------------------------------------
# alert rules
# ---------------------------------------------------------------------------
def _a_brake_engaged(e: dict) -> AlertSpec:
    return AlertSpec("brake_engaged", "critical", f"Emergency brake engaged by {s(e.get('operator'))}",
                     f"Reason: {s(e.get('reason'))}. Platform access disabled, every market halted, "
                     f"liquidations and TP/SL paused.", "brake",
                     {"canceled orders": s(e.get("canceled_orders")), "TP/SL kept": s(e.get("kept_tpsl")),
                      "accounts affected": s(e.get("accounts_affected")), "seq": s(e.get("seq"))})


def _a_brake_released(e: dict) -> AlertSpec:
    return AlertSpec("brake_released", "critical", f"Emergency brake released by {s(e.get('operator'))}",
                     f"Reason: {s(e.get('reason'))}. Markets reopen in post_only.", "brake",
                     {"seq": s(e.get("seq"))}, "resolve")


def _a_circuit_breaker(e: dict) -> AlertSpec:
    m = s(e.get("market"))
    return AlertSpec("circuit_breaker", "critical", f"Liquidation circuit breaker tripped on {m}",
                     f"{s(e.get('accounts'))} accounts (limit {s(e.get('limit_accounts'))}), "
                     f"open-interest share {s(e.get('oi_share'))} (limit {s(e.get('limit_oi_share'))}).",
                     f"circuit_breaker:{m}", {"market": m, "seq": s(e.get("seq"))})


def _a_oracle_rejected(e: dict) -> AlertSpec:
    m = s(e.get("market"))
    return AlertSpec("oracle_rejected", "error", f"Oracle price rejected on {m} ({s(e.get('code'))})",
                     s(e.get("message")), f"oracle_rejected:{m}",
                     {"market": m, "price": price(e.get("price")), "source": s(e.get("source")),
                      "code": s(e.get("code")), "seq": s(e.get("seq"))})


def _a_flag(e: dict) -> AlertSpec:
    m, flag = s(e.get("market")), s(e.get("flag"))
    resolve = e.get("type") == "market_unflagged"
    return AlertSpec(str(e.get("type")), "error", f"{m} flagged: {flag}" if not resolve else f"{m} flag cleared: {flag}",
                     s(e.get("detail")) if not resolve else "", f"flag:{m}:{flag}",
                     {"market": m, "flag": flag, "seq": s(e.get("seq"))}, "resolve" if resolve else "trigger")


def _a_quarantine(e: dict) -> AlertSpec:
    m = s(e.get("market"))
    return AlertSpec("market_data_quarantined", "critical", f"Market data quarantined on {m}",
                     "Refused: " + _join(e.get("reasons")), f"quarantine:{m}",
                     {"market": m, "mark price": price(e.get("mark_price")),
                      "funding index": s(e.get("funding_index")), "source": s(e.get("source")),
                      "seq": s(e.get("seq"))})


def _a_validation_failed(e: dict) -> AlertSpec:
    check = s(e.get("check"))
    return AlertSpec("validation_failed", "critical", f"Validation check failed: {check}", s(e.get("detail")),
                     f"validation:{check}", {"check": check, "seq": s(e.get("seq"))})


def _failure(f) -> str:
    if isinstance(f, dict):
        return f"{f.get('check')}: {f.get('detail')}"
    return str(f)


def _a_validation_overridden(e: dict) -> AlertSpec:
    seq = s(e.get("seq"))
    return AlertSpec("validation_overridden", "critical",
                     f"Validation gate overridden by {s(e.get('operator'))} for {s(e.get('command'))}",
                     f"Reason: {s(e.get('reason'))}. Failing: " + _join([_failure(f) for f in _list(e.get("failures"))]),
                     f"override:{seq}", {"command": s(e.get("command")), "seq": seq})


def _a_safeguards(e: dict) -> AlertSpec:
    on = bool(e.get("enabled"))
    return AlertSpec("safeguards", "info" if on else "critical", "Guard rails switched " + ("on" if on else "OFF"),
                     "" if on else "Oracle checks, market-data quarantine, circuit breakers and post-only bands "
                                   "no longer protect the venue.",
                     "safeguards_off", {"seq": s(e.get("seq"))}, "resolve" if on else "trigger")


def _a_maintenance(e: dict) -> AlertSpec:
    phase, wid = s(e.get("phase")), s(e.get("window_id"))
    sev = "info" if phase in ("scheduled", "announced", "done") else "warning"
    until = e.get("until_ts")
    return AlertSpec("maintenance_phase", sev, f"Maintenance {wid}: {phase}",
                     f"{s(e.get('kind'))} on {s(e.get('markets'))}", f"maintenance:{wid}",
                     {"window": wid, "phase": phase, "markets": s(e.get("markets")),
                      "until": iso(until) if isinstance(until, int) and not isinstance(until, bool) else "—",
                      "seq": s(e.get("seq"))}, "resolve" if phase == "done" else "trigger")


def _a_rolled_back(e: dict) -> AlertSpec:
    sid, seq = s(e.get("snapshot_id")), s(e.get("seq"))
    return AlertSpec("rollback", "critical", f"Venue rolled back to {sid}",
                     f"By {s(e.get('operator'))}: {s(e.get('reason'))}. "
                     f"{s(e.get('discarded_commands'))} commands after seq {s(e.get('to_seq'))} rolled back.",
                     f"rollback:{sid}:{seq}",
                     {"snapshot": sid, "to seq": s(e.get("to_seq")), "state hash": s(e.get("state_hash"))[:16],
                      "seq": seq})


def _a_refund_decided(e: dict) -> AlertSpec:
    rid, status = s(e.get("refund_id")), s(e.get("status"))
    return AlertSpec("refund_" + status, "warning" if status == "approved" else "info",
                     f"Refund {rid} {status} by {s(e.get('approver'))}", f"Reason: {s(e.get('reason'))}",
                     f"refund:{rid}", {"refund": rid, "account": s(e.get("account")), "amount": s(e.get("amount")),
                                       "proposer": s(e.get("proposer"))})


def _a_credited(e: dict) -> AlertSpec | None:
    if not e.get("refund_id"):
        return None
    rid = s(e.get("refund_id"))
    return AlertSpec("refund_paid", "info", f"Refund {rid} paid to {s(e.get('account'))}",
                     f"from the {s(e.get('fund'))} fund", f"refund:{rid}",
                     {"amount": amount(e.get("amount")), "seq": s(e.get("seq"))})


def _a_socialized_loss(e: dict) -> AlertSpec:
    acct, seq = s(e.get("account")), s(e.get("seq"))
    return AlertSpec("socialized_loss", "critical", f"Loss socialized: {amount(e.get('amount'))} USDC for {acct}",
                     "Bad debt the insurance fund and auto-deleveraging could not absorb was written to the "
                     f"socialized-loss ledger (total {amount(e.get('total'))} USDC).",
                     f"socialized_loss:{seq}", {"account": acct, "seq": seq})


def _a_oracle_jump(e: dict) -> AlertSpec:
    m = s(e.get("market"))
    return AlertSpec("oracle_jump_accepted", "warning", f"Oracle jump accepted on {m} ({s(e.get('reason'))})",
                     f"{price(e.get('previous_index'))} -> {price(e.get('price'))} after "
                     f"{s(e.get('refused_count'))} refused prints" +
                     (f"; accepted by {s(e.get('operator'))}" if e.get("operator") else ""),
                     f"oracle_rejected:{m}", {"market": m, "seq": s(e.get("seq"))}, "resolve")


def _a_snapshot_failed(e: dict) -> AlertSpec:
    return AlertSpec("snapshot_failed", "error", f"Snapshot {s(e.get('label'))} could not be taken",
                     f"{s(e.get('code'))}: {s(e.get('message'))}", f"snapshot_failed:{s(e.get('seq'))}",
                     {"seq": s(e.get("seq"))})


def _a_maintenance_change(e: dict) -> AlertSpec:
    wid, t = s(e.get("window_id")), str(e.get("type"))
    what = {"maintenance_canceled": "canceled", "maintenance_rescheduled": "rescheduled",
            "maintenance_extended": "extended"}.get(t, t)
    return AlertSpec(t, "warning", f"Maintenance {wid} {what} by {s(e.get('operator'))}",
                     f"Reason: {s(e.get('reason'))}.", f"maintenance:{wid}",
                     {"window": wid, "markets": s(e.get("markets")), "seq": s(e.get("seq"))},
                     "resolve" if t == "maintenance_canceled" else "trigger")


def _a_withdrawals(e: dict) -> AlertSpec:
    on = bool(e.get("enabled"))
    return AlertSpec("withdrawals", "info" if on else "critical",
                     "Withdrawals resumed" if on else f"Withdrawals PAUSED by {s(e.get('operator'))}",
                     f"Reason: {s(e.get('reason'))}.", "withdrawals_paused", {"seq": s(e.get("seq"))},
                     "resolve" if on else "trigger")


def _a_node_alert(e: dict) -> AlertSpec:
    sev = e.get("severity") if e.get("severity") in SEVERITIES else "error"
    msg = s(e.get("message"))
    h = hashlib.sha256(msg.encode()).hexdigest()[:12]
    return AlertSpec("node_alert", str(sev), f"Node: {msg[:120]}", msg, f"node:{h}", {})


# ---------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------
_T = EventType

_TYPES: tuple[EventType, ...] = (
    # ---- accounts and orders ----
    _T("deposited", ("account", "amount"), lambda e: f"{e.get('account')} deposited {amount(e.get('amount'))} USDC"),
    _T("withdrawn", ("account", "amount"), lambda e: f"{e.get('account')} withdrew {amount(e.get('amount'))} USDC"),
    _T("order_accepted", ("order_id", "account", "market", "side", "size", "price", "order_type", "time_in_force",
                          "post_only", "reduce_only", "client_order_id", "trigger_price"),
       lambda e: f"order {e.get('order_id')} accepted: {e.get('account')} {e.get('side')} {e.get('market')}"),
    _T("order_canceled", ("order_id", "account", "market", "reason", "size", "remaining"),
       lambda e: f"order {e.get('order_id')} canceled ({e.get('reason')})"),
    _T("order_triggered", ("order_id", "account", "market", "order_type", "trigger_price", "mark_price"),
       lambda e: f"{e.get('order_type')} {e.get('order_id')} triggered on {e.get('market')}", timeline="count"),
    _T("trade", ("market", "price", "size", "side", "maker_order_id", "taker_order_id", "maker_account",
                 "taker_account", "maker_fee", "taker_fee"),
       lambda e: f"trade {e.get('market')} at {price(e.get('price'))}"),
    _T("rejected", ("command_type", "code", "message"),
       lambda e: f"{e.get('command_type')} refused: {e.get('code')}: {e.get('message')}"),
    # ---- prices and funding ----
    _T("oracle_updated", ("market", "price", "source", "publish_ts"),
       lambda e: f"oracle {e.get('market')} {price(e.get('price'))} ({e.get('source')})"),
    _T("mark_price", ("market", "mark_price", "index_price"),
       lambda e: f"mark {e.get('market')} {price(e.get('mark_price'))}"),
    _T("funding", ("market", "rate", "premium", "funding_index"),
       lambda e: f"funding {e.get('market')}: rate {e.get('rate')}"),
    _T("oracle_rejected", ("market", "price", "source", "code", "message"),
       lambda e: f"oracle price refused on {e.get('market')} ({e.get('code')}): {e.get('message')}",
       severity="error", feed=True, timeline="count", safeguard=True, alert=_a_oracle_rejected),
    _T("oracle_jump_accepted", ("market", "price", "reason", "previous_index", "refused_count", "since_ts",
                                "operator"),
       _oracle_jump, severity="warning", feed=True, alert=_a_oracle_jump),
    # ---- liquidations ----
    _T("liquidation", ("account", "market", "side", "size", "price", "mark_price", "bankruptcy_price", "fee",
                       "bad_debt", "by", "step"),
       lambda e: f"liquidation {e.get('account')} {e.get('market')} {e.get('side')} at {price(e.get('price'))}",
       timeline="count"),
    _T("deleverage", ("market", "account", "counterparty", "side", "size", "price"),
       lambda e: f"auto-deleverage {e.get('market')}: {e.get('account')} vs {e.get('counterparty')}",
       severity="warning", feed=True, timeline="count"),
    _T("socialized_loss", ("account", "amount", "total"),
       lambda e: f"socialized loss {amount(e.get('amount'))} USDC for {e.get('account')} "
                 f"(total {amount(e.get('total'))})",
       severity="error", feed=True, timeline="line", alert=_a_socialized_loss),
    _T("insurance_fund", ("change", "balance", "reason", "account"),
       lambda e: f"insurance fund {amount(e.get('change'))} USDC ({e.get('reason')}), "
                 f"balance {amount(e.get('balance'))}"),
    _T("circuit_breaker_tripped", ("market", "accounts", "oi_share", "limit_accounts", "limit_oi_share"),
       lambda e: f"CIRCUIT BREAKER on {e.get('market')}: {e.get('accounts')} accounts at once; liquidations paused "
                 f"until an operator resumes them",
       severity="error", feed=True, timeline="line", safeguard=True, alert=_a_circuit_breaker),
    _T("liquidations_paused", ("market",), lambda e: f"liquidations paused ({_all(e.get('market'))})",
       severity="warning", feed=True),
    _T("liquidations_resumed", ("market",), lambda e: f"liquidations resumed ({_all(e.get('market'))})",
       feed=True),
    _T("triggers_paused", ("market",), lambda e: f"TP/SL triggers paused ({_all(e.get('market'))})"),
    _T("triggers_resumed", ("market",), lambda e: f"TP/SL triggers resumed ({_all(e.get('market'))})"),
    # ---- guard rails ----
    _T("market_flagged", ("market", "flag", "detail"),
       lambda e: f"{e.get('market')} flagged {e.get('flag')}: liquidations and TP/SL paused",
       severity="warning", feed=True, timeline="line", safeguard=True, alert=_a_flag),
    _T("market_unflagged", ("market", "flag"), lambda e: f"{e.get('market')}: {e.get('flag')} cleared",
       feed=True, timeline="line", alert=_a_flag),
    _T("market_data_quarantined", ("market", "mark_price", "funding_index", "source", "reasons"),
       lambda e: f"market data for {e.get('market')} QUARANTINED: {_join(e.get('reasons'))}",
       severity="error", feed=True, timeline="line", safeguard=True, alert=_a_quarantine),
    _T("market_state_loaded", ("market", "mark_price", "funding_index", "source"), _market_state_loaded,
       severity="warning", feed=True, timeline="line", routine=lambda e: e.get("source") == "genesis"),
    _T("safeguards_set", ("enabled", "operator", "reason"),
       lambda e: f"safeguards {'ON' if e.get('enabled') else 'OFF'}",
       severity="warning", feed=True, timeline="line", alert=_a_safeguards),
    # ---- the venue ----
    _T("market_created", ("market", "tick_size", "lot_size", "initial_margin", "maintenance_margin",
                          "maker_fee_rate", "taker_fee_rate", "liquidation_fee_rate", "price_band"),
       lambda e: f"market {e.get('market')} created"),
    _T("market_params_set", ("market", "changed", "operator", "reason"),
       lambda e: f"{e.get('market')} parameters set: {s(e.get('changed'))}"),
    _T("market_mode", ("market", "mode"), lambda e: f"{e.get('market')} -> {e.get('mode')}", timeline="count"),
    _T("platform_access", ("enabled",),
       lambda e: f"platform access {'enabled' if e.get('enabled') else 'DISABLED'}", timeline="line"),
    _T("brake_engaged", ("canceled_orders", "kept_tpsl", "accounts_affected", "canceled_by_market", "operator",
                         "reason"),
       _brake_engaged, severity="error", feed=True, timeline="line", alert=_a_brake_engaged),
    _T("brake_released", ("operator", "reason", "override"),
       lambda e: f"brake released by {e.get('operator', '?')}",
       severity="warning", feed=True, timeline="line", alert=_a_brake_released),
    _T("validation_failed", ("check", "detail", "market", "source", "window_id"),
       lambda e: f"validation failed: {e.get('check')}: {e.get('detail')}",
       severity="error", feed=True, timeline="line", alert=_a_validation_failed),
    _T("validation_overridden", ("command", "failures", "operator", "reason"),
       lambda e: f"validation gate OVERRIDDEN by {e.get('operator', '?')} for {e.get('command')}: {e.get('reason')}",
       severity="warning", feed=True, alert=_a_validation_overridden),
    _T("maintenance_scheduled", ("window_id", "markets", "start_ts", "duration_ms", "kind", "phase"),
       lambda e: f"maintenance {e.get('window_id')} scheduled ({e.get('kind')})", feed=True),
    _T("maintenance_phase", ("window_id", "phase", "kind", "markets", "until_ts"),
       _maintenance_phase, feed=True, timeline="line", alert=_a_maintenance),
    _T("maintenance_canceled", ("window_id", "markets", "kind", "phase", "started", "market_modes", "operator",
                                "reason"),
       lambda e: f"maintenance {e.get('window_id')} CANCELED by {e.get('operator')} (was {e.get('phase')})",
       severity="warning", feed=True, timeline="line", alert=_a_maintenance_change),
    _T("maintenance_rescheduled", ("window_id", "markets", "kind", "start_ts", "previous_start_ts", "duration_ms",
                                   "phase", "operator", "reason"),
       lambda e: f"maintenance {e.get('window_id')} rescheduled to "
                 f"{iso(e['start_ts']) if isinstance(e.get('start_ts'), int) else s(e.get('start_ts'))}",
       feed=True, timeline="line", alert=_a_maintenance_change),
    _T("maintenance_extended", ("window_id", "markets", "kind", "phase", "duration_ms", "previous_duration_ms",
                                "post_only_ts", "end_ts", "operator", "reason"),
       lambda e: f"maintenance {e.get('window_id')} extended to {s(e.get('duration_ms'))} ms",
       feed=True, timeline="line", alert=_a_maintenance_change),
    _T("withdrawals_set", ("enabled", "operator", "reason"),
       lambda e: f"withdrawals {'resumed' if e.get('enabled') else 'PAUSED'} by {e.get('operator')}",
       severity="warning", feed=True, timeline="line", alert=_a_withdrawals),
    _T("account_mode_set", ("account", "mode", "previous", "canceled_orders", "operator", "reason"),
       lambda e: f"account {e.get('account')} set {e.get('mode')} by {e.get('operator')} "
                 f"({s(e.get('canceled_orders'))} orders canceled)",
       severity="warning", feed=True, timeline="line"),
    _T("account_orders_canceled", ("account", "market", "canceled", "operator", "reason"),
       lambda e: f"{s(e.get('canceled'))} orders of {e.get('account')} canceled by {e.get('operator')}",
       feed=True, timeline="line"),
    # ---- snapshots, rollback, refunds ----
    _T("snapshot_taken", ("snapshot_id", "seq", "state_hash", "label", "trigger"),
       lambda e: f"snapshot {e.get('snapshot_id')} taken ({e.get('label') or e.get('trigger')})",
       feed=True, timeline="line", routine=lambda e: e.get("trigger") == "auto"),
    _T("snapshot_failed", ("label", "code", "message"),
       lambda e: f"snapshot {e.get('label')} FAILED: {e.get('code')}: {e.get('message')}",
       severity="error", feed=True, alert=_a_snapshot_failed),
    _T("rolled_back", ("snapshot_id", "to_seq", "discarded_commands", "state_hash", "operator", "reason"),
       lambda e: f"ROLLED BACK to {e.get('snapshot_id')} (seq {e.get('to_seq')}); "
                 f"{e.get('discarded_commands')} commands marked rolled back",
       severity="error", feed=True, timeline="line", alert=_a_rolled_back),
    _T("edge_flows_reapplied", ("flows", "bad_debt", "accounts_below_zero", "refunds_kept"),
       lambda e: f"rollback kept {len(_list(e.get('flows')))} edge flows, {e.get('refunds_kept')} refunds; "
                 f"{len(_list(e.get('accounts_below_zero')))} accounts below zero",
       severity="warning"),
    _T("credited", ("account", "amount", "refund_id", "fund", "operator", "reason"),
       lambda e: f"refund {e.get('refund_id')} paid to {e.get('account')}", feed=True, timeline="count",
       alert=_a_credited),
    # ---- node events (published by the node, not the engine) ----
    _T("refund_decided", ("refund_id", "status", "account", "amount", "proposer", "approver", "reason", "fund"),
       lambda e: f"refund {e.get('refund_id')} {e.get('status')} by {e.get('approver')}", alert=_a_refund_decided),
    _T("node_alert", ("severity", "message", "ts"), lambda e: f"node: {e.get('message')}",
       severity="error", alert=_a_node_alert),
)

REGISTRY: dict[str, EventType] = {t.name: t for t in _TYPES}
assert len(REGISTRY) == len(_TYPES), "an event type is registered twice"

#: types shown in the console's alerts feed (and rebuilt from the journal at start)
FEED_TYPES = frozenset(t.name for t in _TYPES if t.feed)
#: types that raise an alert (the dispatcher's filter)
ALERT_TYPES = frozenset(t.name for t in _TYPES if t.alert is not None)
#: types with a timeline line of their own / counted per step
TIMELINE_LINES = frozenset(t.name for t in _TYPES if t.timeline == "line")
TIMELINE_COUNTS = frozenset(t.name for t in _TYPES if t.timeline == "count")
#: guard-rail events (a scenario report's ``safeguard_events``)
SAFEGUARD_TYPES = tuple(t.name for t in _TYPES if t.safeguard)


def line(ev: dict) -> str:
    """The human line for ``ev`` (its type's wording; an unknown type is named)."""
    t = REGISTRY.get(ev.get("type", ""))
    return t.line(ev) if t is not None else str(ev.get("type"))


def console_level(ev: dict) -> str:
    """The console's colour level for ``ev``'s line: information, warning or error."""
    t = REGISTRY.get(ev.get("type", ""))
    return _CONSOLE_LEVEL[t.severity] if t is not None else "information"


def timeline_line(ev: dict) -> str:
    """The line a scenario timeline shows for ``ev`` ("" for none: not a line type, or routine)."""
    t = REGISTRY.get(ev.get("type", ""))
    if t is None or t.timeline != "line" or (t.routine is not None and t.routine(ev)):
        return ""
    return t.line(ev)


def alert_for(ev: dict) -> AlertSpec | None:
    """The alert ``ev`` raises (None: most events raise none)."""
    t = REGISTRY.get(ev.get("type", ""))
    if t is None or t.alert is None:
        return None
    return t.alert(ev)


__all__ = ["ALERT_TYPES", "FEED_TYPES", "REGISTRY", "SAFEGUARD_TYPES", "SEVERITIES", "TIMELINE_COUNTS",
           "TIMELINE_LINES", "AlertSpec", "EventType", "alert_for", "console_level", "line", "timeline_line"]
