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

from .core import Engine
from .runtime import tune_gc
from .wire import LineError, apply_lines, render_state


class ReplayError(Exception):
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


def _atomic_write(path: Path, data: bytes | bytearray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run(commands: str, events_out: str | None, state_out: str | None, out=None, err=None) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    tune_gc()
    src = Path(commands)
    try:
        inp = src.open("rb")
    except OSError as e:
        print(f"perpdesk replay: cannot read {commands}: {e.strerror}", file=err)
        return 2
    # the command file is read line by line and the events stream into a temporary file beside
    # EVENTS.jsonl in pieces of about a megabyte (a journal of any length replays in the memory of
    # its state, not of its size); the file takes its name only once the replay has succeeded
    # (``os.replace``), so a stopped replay writes no output. The loop is compiled (wire.apply_lines).
    ev_path = Path(events_out) if events_out else None
    ev_tmp = ev_path.with_name(ev_path.name + ".tmp") if ev_path is not None else None
    eng = Engine()
    try:
        with inp:
            if ev_tmp is None:
                apply_lines(eng, inp, None)
            else:
                with ev_tmp.open("wb") as evf:
                    apply_lines(eng, inp, bytearray(), None, evf.write)
    except LineError as e:
        if ev_tmp is not None:
            ev_tmp.unlink(missing_ok=True)
        print(f"perpdesk replay: {commands}: line {e.line_no}: {e.message}; stopped, no output written", file=err)
        return 2
    except OSError as e:
        if ev_tmp is not None:
            ev_tmp.unlink(missing_ok=True)
        print(f"perpdesk replay: {e.filename or commands}: {e.strerror or e}; stopped, no output written", file=err)
        return 2
    state = render_state(eng)
    try:
        if ev_path is not None and ev_tmp is not None:  # (both or neither)
            os.replace(ev_tmp, ev_path)
        if state_out:
            _atomic_write(Path(state_out), orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    except OSError as e:
        print(f"perpdesk replay: cannot write output: {e}", file=err)
        return 2
    failing = state["validation"]
    print(f"replayed {eng.seq} commands; state_hash {state['state_hash']}"
          + (f"; {len(failing)} validation check(s) FAIL" if failing else "; all validation checks hold"), file=out)
    return 0
