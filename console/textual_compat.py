"""The only place perpdesk touches Textual's internals.

Everything else in ``console/`` uses Textual's public API (``tests/console/test_textual_public.py``
checks it with an AST scan). What is here exists for speed: each use keeps a key press's frame
under 100 ms on a loaded machine (``bench/bench_console.py``) and draws the same frame as Textual's
own path (the SVG snapshot tests hold). Each would deserve an upstream issue asking for a public hook.

:func:`apply` is called explicitly by :class:`console.app.PerpdeskApp` when it is constructed (not at
import). It checks the installed Textual against the range this module was written and measured for
(:data:`TESTED`); outside it nothing is patched, a warning is logged (``perpdesk.console``), and the
console falls back to the plain public behaviour: the same frames, only slower.

The internals used, and why:

1. ``App._display`` (wrapped on the app instance), ``textual._compositor.LayoutUpdate`` and
   ``App._batch_count``: to know when the first *full* frame after a key press has been written to
   the terminal, so the cyclic garbage collector, held off from the key press, may run again right
   after it (``PerpdeskApp._hold_gc``). There is no public "frame written" event; ``call_after_refresh``
   (the fallback) fires after the next refresh is *processed*, which can be a partial update before
   the full frame. Upstream issue: a public post-display hook (e.g. an ``App.on_frame_written`` callback
   or a ``FrameWritten`` message carrying whether the update was a full layout).
2. ``textual.renderables.background_screen.BackgroundScreen.process_segments`` (replaced, process-wide,
   by a memoised version): a translucent modal's backdrop blends the tint into every segment of the
   screen beneath, tens of thousands per opening of the brake dialog, three quarters of its cost; the
   blended style depends only on (style, tint), so it is computed once per pair. Upstream issue: cache
   the blend per (style, colour) in ``BackgroundScreen`` itself.
3. ``Screen._compositor`` (read only) in :func:`screen_strips`: the strips of the screen beneath a kept
   modal, so its backdrop is tinted strip by strip instead of going through Rich segments and back.
   Upstream issue: a public ``Screen.render_strips()`` (the compositor's strips of the last frame).

Replaced by public API (no longer internals): ``App._screen_stacks`` (``App.get_screen_stack``),
``App._parse_action`` (``textual.actions.parse``), ``App._css_update_count`` (``theme_changed_signal``),
``Footer._bindings_ready`` (the footer's own record of what it shows), ``Screen._on_screen_resume``
overrides (``on_screen_resume`` handlers, which Textual dispatches before the base class's own),
``textual._doc.take_svg_screenshot`` (``App.run_test`` + ``App.export_screenshot``).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable

log = logging.getLogger("perpdesk.console")

#: the Textual versions this module was written and measured for: [low, high)
TESTED: tuple[tuple[int, int], tuple[int, int]] = ((8, 2), (9, 0))

_state: dict[str, object] = {"checked": None, "tint": False}


def textual_version() -> str:
    try:
        return importlib.metadata.version("textual")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _parse(version: str) -> tuple[int, int]:
    parts = []
    for p in version.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


def supported(version: str | None = None) -> bool:
    """Whether ``version`` (default: the installed Textual) is in :data:`TESTED`."""
    v = _parse(version if version is not None else textual_version())
    lo, hi = TESTED
    return lo <= v < hi


def active() -> bool:
    """Whether the internals are in use in this process (the installed Textual is in range); checked once,
    with a warning the first time when it is not."""
    ok = _state["checked"]
    if ok is None:
        ok = supported()
        _state["checked"] = ok
        if not ok:
            log.warning("textual %s is outside the range console/textual_compat.py was written for "
                        "(%d.%d to before %d.%d): its internals are not used (same frames, slower)",
                        textual_version(), *TESTED[0], *TESTED[1])
    return bool(ok)


def apply(app, on_full_frame: Callable[[], None]) -> bool:
    """Install what this module offers on ``app`` (and, once per process, the backdrop tint memo).

    ``on_full_frame`` is called after each full frame (a layout update outside a batch) has been
    written to the terminal. Returns False when the internals are not used (the installed Textual is
    out of range): the caller then uses its public fallback (``call_after_refresh``)."""
    if not active():
        return False
    _memoize_backdrop_tint()
    _hook_display(app, on_full_frame)
    return True


# ---- 1. the first full frame after a key press --------------------------------------------------
def _hook_display(app, on_full_frame: Callable[[], None]) -> None:
    from textual._compositor import LayoutUpdate  # internal: see the module doc, item 1

    original = app._display  # the bound method of the app's class

    def _display(screen, renderable) -> None:
        full = isinstance(renderable, LayoutUpdate) and not app._batch_count
        original(screen, renderable)
        if full:
            on_full_frame()

    app._display = _display  # an instance attribute: Textual calls ``self._display``


# ---- 2. the modal backdrop's tint, one blend per distinct style -----------------------------------
def _memoize_backdrop_tint() -> None:
    from rich.segment import Segment
    from textual.renderables.background_screen import BackgroundScreen

    if _state["tint"]:
        return
    original = BackgroundScreen.process_segments.__func__
    blended: dict = {}

    def process_segments(cls, segments, color):
        if color.a == 0:
            yield from original(cls, segments, color)
            return
        for segment in segments:
            text, style, control = segment
            if control:
                yield segment
                continue
            key = (style, color)
            new = blended.get(key)
            if new is None:
                new = next(iter(original(cls, [Segment(" ", style)], color))).style
                if len(blended) > 8192:
                    blended.clear()
                blended[key] = new
            yield Segment(text, new, control)

    BackgroundScreen.process_segments = classmethod(process_segments)  # type: ignore[method-assign,assignment]
    _state["tint"] = True


def tint_style(style, color):
    """The style a translucent backdrop of ``color`` gives a segment of ``style`` (Textual's own blend)."""
    from rich.segment import Segment
    from textual.renderables.background_screen import BackgroundScreen

    return next(iter(BackgroundScreen.process_segments([Segment(" ", style)], color))).style


# ---- 3. the strips of the screen beneath a modal ------------------------------------------------
def screen_strips(screen, size) -> list | None:
    """The strips ``screen`` last composed at ``size`` (None: not available, then the caller draws the
    backdrop through Textual's own path)."""
    if not active():
        return None
    compositor = getattr(screen, "_compositor", None)  # internal: see the module doc, item 3
    if compositor is None or compositor.size != size:
        return None
    return compositor.render_strips(size)


__all__ = ["TESTED", "active", "apply", "screen_strips", "supported", "textual_version", "tint_style"]
