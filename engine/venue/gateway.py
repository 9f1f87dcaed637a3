"""The one adapter between a caller (the API, an in-process console) and a node.

Everything returned is plain data (dicts of ints and strings). Writes return an
:class:`~engine.api.models.Outcome`; a refused command, a role refusal and a node
error all become ``Outcome(ok=False, code, message)`` so a screen can show a
notification instead of a traceback. Reads raise :class:`~engine.api.errors.GatewayError`.

A gateway acts for one :class:`~engine.node.roles.Actor`: :meth:`Gateway.as_actor` gives the
gateway of the operator a request authenticated (the API makes one per token); without an
actor it acts as the node's own operator (in-process desks, tests, screenshots).
The event buffer is :class:`engine.venue.feed.Feed`.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.api.errors import GatewayError
from engine.api.models import Outcome
from engine.node.node import NodeError
from engine.node.roles import REQUIRED_ROLE, Actor

from .feed import Feed  # noqa: F401  (re-exported: the gateway and its feed travel together)

#: actions the console can ask for that are node actions rather than commands
NODE_ACTIONS = ("propose_refund", "decide_refund", "pay_refund", "propose_refunds")


def _call(fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except GatewayError:
        raise
    except NodeError as e:
        raise GatewayError(e.code, e.message) from None
    except KeyError as e:
        raise GatewayError("not_found", f"not found: {e.args[0] if e.args else e}") from None
    except Exception as e:  # a node bug must not close the console
        raise GatewayError("error", f"{type(e).__name__}: {e}") from None


class Gateway:
    """Talks to an in-process :class:`engine.node.node.Node` for one actor (default: the node's own)."""

    def __init__(self, node, *, timeout: float = 10.0, actor: Actor | None = None) -> None:
        self.node = node
        self.timeout = timeout
        self.actor = actor

    def as_actor(self, actor: Actor) -> Gateway:
        """The same node's gateway acting for ``actor`` (every command and node action carries it)."""
        return Gateway(self.node, timeout=self.timeout, actor=actor)

    @property
    def who(self) -> Actor:
        return self.actor if self.actor is not None else self.node.actor

    # ---- who and when ---------------------------------------------------
    @property
    def identity(self) -> dict:
        who = self.who
        if who is None:
            return {"operator": "?", "role": "?", "db": "?"}
        return {"operator": who.name, "role": who.role, "db": self.node.db}

    @property
    def role(self) -> str:
        return self.identity.get("role", "viewer")

    def may(self, action: str) -> bool:
        actor = self.who
        if actor is None:
            return True
        return actor.may(action)

    def sim_rate(self) -> float | None:
        """The simulated market's rate (the service knows it; an in-process desk's app measures its own)."""
        return None

    def sessions(self) -> list[dict]:
        """Who else is attached (the service fills this in; an in-process desk has nobody else)."""
        return []

    @staticmethod
    def required_role(action: str) -> str | None:
        return REQUIRED_ROLE.get(action)

    def clock(self) -> int:
        return int(self.node.clock())

    def subscribe(self, fn: Callable[[list[dict]], None]) -> Callable[[], None]:
        return self.node.subscribe(fn)

    # ---- reads ------------------------------------------------------------
    def status(self) -> dict:
        return _call(self.node.status)

    def markets(self) -> list[dict]:
        return _call(self.node.markets)

    def account(self, name: str) -> dict | None:
        return _call(self.node.account, name)

    def accounts(self, limit: int = 500, offset: int = 0, query: str = "") -> list[dict]:
        return _call(self.node.accounts, limit, offset, query)

    def book(self, market: str, levels: int = 10) -> dict:
        return _call(self.node.book, market, levels)

    def accounts_by_risk(self, limit: int = 300, below_maintenance: bool = False) -> list[dict]:
        """Accounts with a position, highest maintenance-margin ratio first (optionally only those below
        maintenance)."""
        return _call(self.node.accounts_by_risk, limit, below_maintenance)

    def reopen_backlog(self, market: str) -> dict:
        """Accounts at or below maintenance with a position in ``market`` and armed TP/SL the mark has
        crossed: what fires when the (restricted) market reopens."""
        return _call(self.node.reopen_backlog, market)

    def checks(self) -> list[dict]:
        return _call(self.node.checks)

    def snapshots(self) -> list[dict]:
        return _call(self.node.snapshots)

    def brake_preview(self) -> dict:
        return _call(self.node.brake_preview)

    def rollback_preview(self, snapshot_id: str) -> dict:
        return _call(self.node.rollback_preview, snapshot_id)

    def audit(self, limit: int = 500, query: str = "") -> list[dict]:
        return _call(self.node.audit, limit, query)

    def refunds(self) -> list[dict]:
        return _call(self.node.refunds)

    def maintenance_windows(self) -> list[dict]:
        return _call(self.node.maintenance_windows)

    def alert_deliveries(self, limit: int = 200) -> list[dict]:
        """Alert delivery attempts, newest first (no secrets: sink names only)."""
        return _call(self.node.alert_deliveries, limit)

    def alert_sinks(self) -> list[dict]:
        """The configured alert sinks: name, kind, min_severity (never their URLs or keys)."""
        return [dict(s) for s in self.node.alert_sinks]

    def feed_health(self) -> dict:
        """Price sources' health and each market's index ({"sources": [], "indexes": []} without feeds)."""
        return _call(self.node.feed_health)

    # ---- writes -----------------------------------------------------------
    def send(self, cmd: dict) -> Outcome:
        """Submit one wire-form command and wait for its result."""
        try:
            res = self.node.call(cmd, actor=self.who, timeout=self.timeout)
        except NodeError as e:
            return Outcome(False, e.code, e.message)
        except Exception as e:  # timeouts, a stopped node, a node bug
            return Outcome(False, "error", f"{type(e).__name__}: {e}")
        return Outcome(res.ok, res.code, res.message, res.seq, list(res.events))

    def emergency_brake(self, reason: str) -> Outcome:
        return self.send({"type": "emergency_brake", "reason": reason})

    def release_brake(self, reason: str) -> Outcome:
        return self.send({"type": "release_brake", "reason": reason})

    def take_snapshot(self, label: str, reason: str = "") -> Outcome:
        return self.send({"type": "take_snapshot", "label": label, "reason": reason or label})

    def rollback(self, snapshot_id: str, reason: str) -> Outcome:
        return self.send({"type": "rollback", "snapshot_id": snapshot_id, "reason": reason})

    def schedule_maintenance(self, window_id: str, markets: list[str], start_ts: int, duration_ms: int,
                             kind: str, reason: str = "") -> Outcome:
        return self.send({"type": "schedule_maintenance", "window_id": window_id, "markets": markets,
                          "start_ts": start_ts, "duration_ms": duration_ms, "kind": kind,
                          "reason": reason or f"{kind} window"})

    def pause_liquidations(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "pause_liquidations", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def resume_liquidations(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "resume_liquidations", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def set_market_mode(self, market: str, mode: str, reason: str) -> Outcome:
        return self.send({"type": "set_market_mode", "market": market, "mode": mode, "reason": reason})

    def set_platform_access(self, enabled: bool, reason: str) -> Outcome:
        return self.send({"type": "set_platform_access", "enabled": enabled, "reason": reason})

    def pause_triggers(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "pause_triggers", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def resume_triggers(self, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "resume_triggers", "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    def set_safeguards(self, enabled: bool, reason: str) -> Outcome:
        return self.send({"type": "set_safeguards", "enabled": enabled, "reason": reason})

    # ---- operator controls: maintenance windows, withdrawals, per-account actions ----------------
    def cancel_maintenance(self, window_id: str, reason: str) -> Outcome:
        return self.send({"type": "cancel_maintenance", "window_id": window_id, "reason": reason})

    def reschedule_maintenance(self, window_id: str, start_ts: int, reason: str) -> Outcome:
        return self.send({"type": "reschedule_maintenance", "window_id": window_id, "start_ts": start_ts,
                          "reason": reason})

    def extend_maintenance(self, window_id: str, duration_ms: int, reason: str) -> Outcome:
        return self.send({"type": "extend_maintenance", "window_id": window_id, "duration_ms": duration_ms,
                          "reason": reason})

    def set_withdrawals(self, enabled: bool, reason: str) -> Outcome:
        return self.send({"type": "set_withdrawals", "enabled": enabled, "reason": reason})

    def set_account_mode(self, account: str, mode: str, reason: str) -> Outcome:
        return self.send({"type": "set_account_mode", "account": account, "mode": mode, "reason": reason})

    def cancel_account_orders(self, account: str, market: str | None, reason: str) -> Outcome:
        cmd = {"type": "cancel_account_orders", "account": account, "reason": reason}
        if market:
            cmd["market"] = market
        return self.send(cmd)

    # ---- refunds (node actions, maker-checker) ---------------------------------
    def _node_action(self, name: str, *args, **kwargs) -> Outcome:
        try:
            out = getattr(self.node, name)(*args, actor=self.who, **kwargs)
        except GatewayError as e:
            return Outcome(False, e.code, e.message)
        except NodeError as e:
            return Outcome(False, e.code, e.message)
        except Exception as e:
            return Outcome(False, "error", f"{type(e).__name__}: {e}")
        if hasattr(out, "ok"):  # a Result
            return Outcome(out.ok, out.code, out.message, out.seq, list(out.events))
        return Outcome(True, data=out)

    def propose_refund(self, account: str, amount: str, reason: str, evidence: dict | None = None) -> Outcome:
        return self._node_action("propose_refund", account, amount, reason, evidence)

    def decide_refund(self, refund_id: str, approve: bool, reason: str, fund: str | None = None) -> Outcome:
        if fund is None:
            return self._node_action("decide_refund", refund_id, approve, reason)
        return self._node_action("decide_refund", refund_id, approve, reason, fund=fund)

    def pay_refund(self, refund_id: str, fund: str | None = None) -> Outcome:
        """``fund`` None: the fund named when the refund was approved."""
        return self._node_action("pay_refund", refund_id, fund)

    # ---- refunds computed from the journal: reads for any role, proposing needs propose_refund ----
    def compute_refunds(self, snapshot_id: str, to_seq: int, bad_seqs: list[int],
                        corrections: dict | None = None) -> dict:
        return _call(self.node.compute_refunds, snapshot_id, to_seq, bad_seqs, corrections)

    def reference_refunds(self, from_seq: int, to_seq: int, reference_ts: int, market: str | None = None) -> dict:
        return _call(self.node.reference_refunds, from_seq, to_seq, reference_ts, market)

    def suspect_inputs(self, from_seq: int, to_seq: int) -> list[dict]:
        return _call(self.node.suspect_inputs, from_seq, to_seq)

    def recompute_refund(self, refund_id: str) -> dict:
        return _call(self.node.recompute_refund, refund_id)

    def propose_refunds(self, report: dict, reason: str) -> Outcome:
        return self._node_action("propose_refunds", report, reason)
