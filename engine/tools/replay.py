"""``perpdesk replay``: a JSONL command file in, events and canonical state out.

Byte-identical across runs. A line that is not JSON, or not a known command,
stops the replay with its line number (exit 2) and writes no output files; a
well-formed command the engine refuses becomes a ``rejected`` event.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from engine.errors import PerpdeskError

from ..core.engine import Engine
from ..core.runtime import tune_gc
from ..core.snapshot import SnapshotError
from ..core.wire import LineError, apply_lines, render_state
from .progress import Progress


class ReplayError(PerpdeskError):
    """A journal line that cannot be replayed; the message starts with its line number."""

    code = "bad_journal_line"

    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}")
        self.line_no = line_no


def replay_lines(lines, engine: Engine | None = None, on_events=None) -> Engine:
    """Apply JSONL lines (bytes) to ``engine``; ``on_events(list)`` gets each command's events."""
    eng = engine if engine is not None else Engine()
    try:
        apply_lines(eng, list(lines), None, on_events)
    except LineError as e:
        raise ReplayError(e.line_no, e.message) from None
    return eng


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _collision(src: Path, ev_path: Path | None, st_path: Path | None) -> str | None:
    """Why these output paths cannot be written (they collide with each other, with the input, or
    with each other's temporary file), or None."""
    named = [("COMMANDS", src)]
    if ev_path is not None:
        named += [("--events-out", ev_path), ("--events-out's temporary file", _tmp(ev_path))]
    if st_path is not None:
        named += [("--state-out", st_path), ("--state-out's temporary file", _tmp(st_path))]
    for i, (na, pa) in enumerate(named):
        for nb, pb in named[i + 1:]:
            if (pa is ev_path and pb == _tmp(ev_path)) or (pa is st_path and pb == _tmp(st_path)):
                continue  # a file and its own temporary
            if _same_path(pa, pb):
                return f"{na} and {nb} are the same file ({pb}); choose distinct paths"
    return None


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


_PIECE: int = 1 << 20  # the command file is handed to the compiled loop in pieces of about this many bytes


def _apply_file(eng: Engine, inp, buf: bytearray | None, sink, prog: Progress) -> None:
    """``apply_lines`` over the open command file, a piece (~1 MB of lines) at a time, reporting the
    lines read between pieces (never inside the compiled loop). Same events, same bytes, same state
    as one call over the whole file; a bad line's number counts from the file's start."""
    try:
        size = os.fstat(inp.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        size = 0
    prog.phase("replay", None, "lines")
    done = 0
    while True:
        piece = inp.readlines(_PIECE)
        if not piece:
            break
        try:
            apply_lines(eng, piece, buf, None, sink)
        except LineError as e:
            raise LineError(done + e.line_no, e.message) from None
        done += len(piece)
        if prog.active:
            prog.update(done, min(1.0, inp.tell() / size) if size > 0 else None)
    prog.close()


def run(commands: str, events_out: str | None, state_out: str | None, out=None, err=None,
        progress: Progress | None = None) -> int:
    """Exit 0: replayed, both outputs written. 1: the state cannot be written (nothing written).
    2: a bad input line, an unreadable input, colliding paths or an I/O error (nothing written).
    ``progress``: where lines read are reported (default: on ``err`` when it is a terminal)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    prog = progress if progress is not None else Progress(err)
    tune_gc()
    src = Path(commands)
    ev_path = Path(events_out) if events_out else None
    st_path = Path(state_out) if state_out else None
    why = _collision(src, ev_path, st_path)
    if why is not None:
        print(f"perpdesk replay: {why}; nothing written", file=err)
        return 2
    try:
        inp = src.open("rb")
    except OSError as e:
        print(f"perpdesk replay: cannot read {commands}: {e.strerror}", file=err)
        return 2
    # the command file is read line by line and the events stream into a temporary file beside
    # EVENTS.jsonl in pieces of about a megabyte (a journal of any length replays in the memory of
    # its state, not of its size). The outputs are a pair: both are written to temporary files and
    # take their names (``os.replace``) only once both are complete, so a stopped or failed replay
    # writes no output and leaves no temporary file. The loop is compiled (wire.apply_lines).
    ev_tmp = _tmp(ev_path) if ev_path is not None else None
    st_tmp = _tmp(st_path) if st_path is not None else None

    def cleanup() -> None:
        for t in (ev_tmp, st_tmp):
            if t is not None:
                t.unlink(missing_ok=True)

    eng = Engine()
    try:
        with inp:
            if ev_tmp is None:
                _apply_file(eng, inp, None, None, prog)
            else:
                with ev_tmp.open("wb") as evf:
                    _apply_file(eng, inp, bytearray(), evf.write, prog)
    except LineError as e:
        prog.close()
        cleanup()
        print(f"perpdesk replay: {commands}: line {e.line_no}: {e.message}; stopped, no output written", file=err)
        return 2
    except OSError as e:
        prog.close()
        cleanup()
        print(f"perpdesk replay: {e.filename or commands}: {e.strerror or e}; stopped, no output written", file=err)
        return 2
    except Exception as e:  # noqa: BLE001 - an engine failure is reported, never a traceback
        prog.close()
        cleanup()
        print(f"perpdesk replay: {commands}: the engine failed after {eng.seq} commands: {e!r}; "
              "no output written", file=err)
        return 1
    try:
        state = render_state(eng)
        state_bytes = orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    except (SnapshotError, orjson.JSONEncodeError) as e:
        cleanup()
        print(f"perpdesk replay: the state after {eng.seq} commands cannot be written: {e}; no output written",
              file=err)
        return 1
    try:
        if st_tmp is not None:
            st_tmp.write_bytes(state_bytes)
        # both complete: now both take their names
        if ev_path is not None and ev_tmp is not None:
            os.replace(ev_tmp, ev_path)
        if st_path is not None and st_tmp is not None:
            os.replace(st_tmp, st_path)
    except OSError as e:
        cleanup()
        print(f"perpdesk replay: cannot write output: {e}", file=err)
        return 2
    failing = state["validation"]
    print(f"replayed {eng.seq} commands; state_hash {state['state_hash']}"
          + (f"; {len(failing)} validation check(s) FAIL" if failing else "; all validation checks hold"), file=out)
    return 0
