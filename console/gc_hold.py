"""A key press never waits for the cyclic garbage collector (a mixin of :class:`console.app.PerpdeskApp`).

At start the objects that live as long as the process are frozen out of the collector's sight; from a
key press to the first full frame after it the collector is held off (then it runs, on the same garbage).
"""

from __future__ import annotations

import asyncio
import gc

from textual import events


class GcHold:
    """PerpdeskApp's garbage-collector handling (needs ``self.compat``, set from textual_compat.apply)."""

    _gc_held: object | None = None  # the timer that gives the collector back (see _hold_gc)

    @staticmethod
    def _freeze_startup_objects() -> None:
        """Move what exists once the desk is up (modules, classes, the app and its first screen,
        stylesheets: most of the process's objects, alive until it exits) out of the cyclic garbage
        collector's sight. A full collection stops every thread, the UI's too, and scanned all of
        them each time: 0.2-0.5 s on a busy machine, a key press waiting behind it. Frozen objects
        are still freed when no longer referenced; only a reference cycle among them would stay."""
        gc.collect()
        gc.freeze()

    # ---- a key press never waits for the garbage collector ------------------------
    #: the longest a key's frame may hold the cyclic collector off (then it runs, frame or not)
    GC_HOLD_S = 0.5

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)) and not event.is_forwarded:
            self._hold_gc()
        await super().on_event(event)

    def _hold_gc(self) -> None:
        """Keep the cyclic garbage collector from running between a key press and the first full
        frame that follows it. Textual's rendering makes reference cycles by the thousand (a Strip
        divided at its own length caches itself; every restyle makes virtual nodes), so collections
        come often, and a full one stops the UI thread for 40-140 ms under load: the tail of the
        key latency. Held, the collection runs right after that frame is written (or after
        GC_HOLD_S at most), on the same garbage: nothing is kept longer than half a second more."""
        if self._gc_held is not None or not gc.isenabled():
            return  # already held (a key repeat), or the collector is off for another reason
        gc.disable()
        self._gc_held = self.set_timer(self.GC_HOLD_S, self._release_gc, name="gc-hold")
        if not self.compat:  # no frame-written hook: give it back after the next refresh (public API)
            self.call_after_refresh(self._release_gc)

    def _release_gc(self) -> None:
        timer, self._gc_held = self._gc_held, None
        if timer is None:
            return
        timer.stop()
        gc.enable()

    def _on_full_frame(self) -> None:
        """A full frame has been written (textual_compat's hook)."""
        if self._gc_held is not None:  # the key's full frame is out: the collector may run again, after this turn
            asyncio.get_running_loop().call_soon(self._release_gc)
