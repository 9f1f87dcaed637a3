"""The node's records beside the journal: the audit log of operator actions (every command an
operator sends, every refusal, every refused login), the node's alerts (``node_alert``, not
journaled) and the alert deliveries, and the price feeds' health. A part of
:class:`engine.node.node.Node`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import NodeError, is_store_error
from .roles import Actor

if TYPE_CHECKING:
    from .sequencer import Ack


class AuditTrail:
    """Audit, alert and delivery methods of :class:`~engine.node.node.Node`."""

    def _alert(self, severity: str, message: str) -> None:
        ev = {"type": "node_alert", "severity": severity, "message": message, "ts": self.clock()}
        self.alerts.append(ev)
        self._publish_node_event(ev)

    def _publish_node_event(self, ev: dict) -> None:
        """Hand a node-level event (not journaled: node_alert, refund_decided) to the subscribers."""
        for fn in list(self._subscribers):
            try:
                fn([ev])
            except Exception:
                pass

    # ---- audit -----------------------------------------------------------
    def _audit(self, who: Actor, action: str, cmd: dict | None, reason: str, outcome: str) -> None:
        try:
            self.persistence.append_audit(operator=who.name, role=who.role, action=action, command=cmd,
                                          reason=reason or "", outcome=outcome, ts=self.clock())
        except Exception as e:
            if not is_store_error(e):
                raise
            self._alert("critical", f"audit record not written ({action} by {who.name}): {e}")

    def _audit_result(self, who: Actor, cmd: dict, fut: Ack) -> None:
        try:
            res = fut.result()
            outcome = "ok" if res.ok else f"rejected: {res.code}: {res.message}"
        except Exception as e:
            outcome = f"error: {e}"
        self._audit(who, cmd["type"], cmd, cmd.get("reason", ""), outcome)

    def audit(self, limit: int = 500, query: str = "") -> list[dict]:
        """The newest ``limit`` audit records matching ``query`` (oldest first)."""
        rows = [r.as_dict() for r in self.persistence.iter_audit(query=query or None, limit=limit, newest_first=True)]
        return rows[::-1]

    def _require(self, who: Actor, action: str) -> None:
        if not who.may(action):
            self._audit(who, action, None, "", "refused: role")
            raise NodeError("forbidden", f"{who.name} ({who.role}) may not {action.replace('_', ' ')}")

    def audit_auth_failure(self, source: str, code: str, detail: str, *, token_id: str | None = None) -> None:
        """Audit one refused login or request (the venue service calls it; engine/venue/operators.py
        records through the store's audit chain itself). ``token_id``: the token's public id only,
        never its secret."""
        cmd = {"source": str(source)[:200], "code": str(code)[:64]}
        if token_id:
            cmd["token_id"] = str(token_id)[:64]
        self._audit(Actor(f"token:{token_id}" if token_id else "anonymous", "none"), "authenticate", cmd,
                    "", f"refused: {code}: {str(detail)[:300]}")

    # ---- the outside world: alert deliveries and price-feed health ------------------
    def record_alert_delivery(self, rec: dict) -> None:
        """Keep one alert delivery attempt (the store's alert_deliveries table, or memory)."""
        self.persistence.record_alert_delivery(rec)

    def alert_deliveries(self, limit: int = 200) -> list[dict]:
        """The newest ``limit`` delivery attempts, newest first."""
        return self.persistence.list_alert_deliveries(limit)

    def feed_health(self) -> dict:
        """Each price source's health and each market's index (empty without feeds)."""
        fn = self.feed_health_source
        if fn is None:
            return {"sources": [], "indexes": []}
        return fn()
