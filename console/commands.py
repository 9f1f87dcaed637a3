"""Running an operator command (a gateway write): inline when frozen, in a thread worker when live; the
outcome is a notification, never a traceback (a mixin of :class:`console.app.PerpdeskApp`)."""

from __future__ import annotations

from collections.abc import Callable

from textual import work

from engine.api.errors import GatewayError
from engine.api.models import Outcome

from .messages import CommandDone


class Commands:
    """run_command and its worker."""

    # ---- commands ----------------------------------------------------------------
    def run_command(self, label: str, fn: Callable[[], Outcome], success: str = "",
                    then: Callable[[Outcome], None] | None = None) -> None:
        """Run a gateway write; inline when frozen, in a thread worker when live."""
        if self.live:
            self._command_worker(label, fn, success, then)
        else:
            self._command_done(CommandDone(label, self._safe(fn), success), then)

    @staticmethod
    def _safe(fn: Callable[[], Outcome]) -> Outcome:
        try:
            return fn()
        except GatewayError as e:
            return Outcome(False, e.code, e.message)
        except Exception as e:  # never a traceback on screen
            return Outcome(False, "error", f"{type(e).__name__}: {e}")

    @work(thread=True, exit_on_error=False, group="commands")
    def _command_worker(self, label: str, fn, success: str, then) -> None:
        out = self._safe(fn)
        self.call_from_thread(self._command_done, CommandDone(label, out, success), then)

    def _command_done(self, msg: CommandDone, then=None) -> None:
        out = msg.outcome
        self.last_outcome = out
        if out.ok:
            self.notify(msg.success or out.message or f"{msg.label}: done", title=msg.label)
        else:
            self.notify(f"{out.message} ({out.code})", title=f"{msg.label} refused", severity="error",
                        timeout=8)
        if then is not None:
            then(out)
        self.refresh_now()
