"""Permissions: an action the operator may not take now is dimmed and, when pressed, says why; never
silently ignored (a mixin of :class:`console.app.PerpdeskApp`)."""

from __future__ import annotations

from textual.actions import parse as parse_action

#: app action -> the node action (role check) it needs
ACTION_NEEDS = {
    "brake": "emergency_brake",
    "release": "release_brake",
    "snapshot": "take_snapshot",
    "toggle_liquidations": "pause_liquidations",
    "rollback": "rollback",
    "take_snapshot": "take_snapshot",
    "propose": "propose_refund",
    "approve": "decide_refund",
    "approve_treasury": "decide_refund",
    "reject": "decide_refund",
    "compute": "propose_refund",
    "pay": "pay_refund",
    "schedule": "schedule_maintenance",
    "cancel_window": "cancel_maintenance",
    "reschedule_window": "reschedule_maintenance",
    "extend_window": "extend_maintenance",
    "account_mode": "set_account_mode",
    "cancel_account_orders": "cancel_account_orders",
}


class Permissions:
    """why_not / check_action for the app's and the screens' actions."""

    # ---- permissions: dim, never silently ignore --------------------------------
    def why_not(self, action: str) -> str | None:
        """Why ``action`` is unavailable now (None: it is available)."""
        need = ACTION_NEEDS.get(action)
        if need or action in ("venue", "quit_venue"):
            down = self.venue_unreachable()
            if down:
                return down
        gw = self.gateway
        if need and not gw.may(need):
            ident = gw.identity
            return (f"{ident.get('operator')} is {ident.get('role')}; "
                    f"{need.replace('_', ' ')} needs {gw.required_role(need)}")
        st = self.vm.get("status", {})
        if action == "brake" and st.get("brake_engaged"):
            return "the emergency brake is already engaged"
        if action == "release" and not st.get("brake_engaged"):
            return "the emergency brake is not engaged"
        return None

    def action_allowed(self, action: str) -> bool | None:
        return None if self.why_not(action) else True

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.action_allowed(action)

    async def run_action(self, action, default_namespace=None, namespaces=None) -> bool:
        try:
            target, name, params = self._action_target(action, default_namespace, namespaces)
            if target.check_action(name, params) is None:
                why = self.why_not(name) or getattr(target, "why_not", lambda _n: None)(name)
                if why:
                    self.notify(why, title="Not available", severity="warning")
                    return True
        except Exception:
            pass
        return await super().run_action(action, default_namespace, namespaces)

    def _action_target(self, action, default_namespace, namespaces):
        """(node, action name, parameters) for an action string, as Textual resolves it: the named
        namespace (``app.``, ``screen.``, ``focused.`` or one of ``namespaces``), else the default one."""
        destination, name, params = parse_action(action) if isinstance(action, str) else action
        target = None
        if destination:
            target = (namespaces or {}).get(destination)
            if target is None:
                target = {"app": self, "screen": self.screen, "focused": self.focused}[destination]
        if target is None:
            target = self if default_namespace is None else default_namespace
        return target, name, params
