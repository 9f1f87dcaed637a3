"""The progress line (engine/tools/progress.py) and its use by ``perpdesk replay``, ``verify`` and the
headless demo: drawn only on a terminal (a fake one here), at most five times a second (a fake
clock: no test depends on wall time), and output byte-identical when it is not drawn."""

from __future__ import annotations

import io

import orjson
import pytest
from test_replay import ROOT, script, write

from engine.tools import replay as replay_mod
from engine.tools.progress import Progress, fmt_duration
from engine.tools.replay import run as replay_run


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    """Each reading is ``step`` seconds after the one before."""

    def __init__(self, step: float = 1.0) -> None:
        self.t = 100.0
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


class StillClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_quiet_when_the_stream_is_not_a_terminal():
    s = io.StringIO()
    p = Progress(s, clock=FakeClock())
    p.phase("work", 10)
    for i in range(10):
        p.update(i)
    p.close()
    assert not p.active and s.getvalue() == ""


def test_a_terminal_gets_done_total_rate_and_time_left():
    s, clk = FakeTTY(), StillClock()
    p = Progress(s, clock=clk)
    p.phase("verify: replay", 1000, "rows")
    clk.t = 2.0
    p.update(500)
    assert s.getvalue() == "\rverify: replay: 500/1,000 rows (50%)  250 rows/s  0:02 left"
    # a fraction known otherwise (bytes read, engine time) sets the time left; no total
    p.phase("replay", None, "lines")
    clk.t = 12.0
    p.update(30_000, 0.25)
    assert s.getvalue().endswith("\rreplay: 30,000 lines (25%)  3,000 lines/s  0:30 left" + " " * 7)  # padded


def test_a_shorter_line_rubs_out_the_longer_one_and_close_leaves_nothing():
    s, clk = FakeTTY(), StillClock()
    p = Progress(s, clock=clk)
    p.phase("a long label here", 10, "rows")
    clk.t = 1.0
    p.update(5)
    first = s.getvalue()
    p.phase("x", None, "rows")
    clk.t = 2.0
    p.update(1)
    second = s.getvalue()[len(first):]
    assert second.startswith("\rx: 1 rows") and len(second) == len(first)  # padded over the old line
    p.close()
    tail = s.getvalue()[len(first) + len(second):]
    assert tail == "\r" + " " * len(second[1:].rstrip(" ")) + "\r"  # the rest is blank already
    p.close()  # twice: nothing more
    assert s.getvalue().endswith(tail) and len(s.getvalue()) == len(first) + len(second) + len(tail)


def test_at_most_five_updates_a_second():
    s = FakeTTY()
    clk = FakeClock(0.01)  # 1,000 updates over ten seconds of fake time
    p = Progress(s, clock=clk)
    p.phase("work", 1000)
    for i in range(1000):
        p.update(i)
    draws = s.getvalue().count("\r")
    assert 45 <= draws <= 51


def test_quick_work_shows_nothing():
    s = FakeTTY()
    p = Progress(s, clock=FakeClock(0.001))
    p.phase("work", 100)
    for i in range(100):  # a tenth of a second in all
        p.update(i)
    p.close()
    assert s.getvalue() == ""


def test_the_flag_forces_it_on_or_off():
    off = FakeTTY()
    p = Progress(off, enabled=False, clock=FakeClock())
    p.phase("w", 3)
    p.update(1)
    assert off.getvalue() == ""
    on = io.StringIO()  # not a terminal, but --progress
    p = Progress(on, enabled=True, clock=FakeClock())
    p.phase("w", 3)
    p.update(1)
    assert on.getvalue().startswith("\rw: 1/3 rows")


def test_durations():
    assert [fmt_duration(x) for x in (0, 7.4, 754, 3723)] == ["0:00", "0:07", "12:34", "1:02:03"]


# ---- perpdesk replay -------------------------------------------------------------------------

def _replay(tmp_path, src, tag, progress=None):
    ev, st = tmp_path / f"ev-{tag}.jsonl", tmp_path / f"st-{tag}.json"
    out, err = io.StringIO(), io.StringIO()
    rc = replay_run(str(src), str(ev), str(st), out=out, err=err, progress=progress)
    return rc, ev.read_bytes(), st.read_bytes(), out.getvalue(), err.getvalue()


def test_replay_in_small_pieces_with_progress_writes_the_same_bytes(tmp_path, monkeypatch):
    src = write(tmp_path / "cmds.jsonl", script())
    whole = _replay(tmp_path, src, "whole")
    assert whole[0] == 0 and whole[4] == ""  # err not a terminal: not a byte of progress
    monkeypatch.setattr(replay_mod, "_PIECE", 200)  # a few lines per piece
    tty = FakeTTY()
    pieces = _replay(tmp_path, src, "pieces", Progress(tty, clock=FakeClock()))
    assert pieces == whole
    shown = tty.getvalue()
    n = len(script())
    assert "\rreplay: " in shown and f"replay: {n} lines (100%)" in shown and "lines/s" in shown
    assert shown.endswith("\r")  # taken off the screen at the end


def test_replay_in_pieces_names_a_bad_line_from_the_files_start(tmp_path, monkeypatch):
    lines = [orjson.dumps(c) for c in script()]
    lines.insert(9, b"{not json")
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(replay_mod, "_PIECE", 100)
    rc, err = None, io.StringIO()
    rc = replay_run(str(src), str(tmp_path / "e"), str(tmp_path / "s"), out=io.StringIO(), err=err,
                    progress=Progress(FakeTTY(), clock=FakeClock()))
    assert rc == 2 and ": line 10: not JSON" in err.getvalue()
    assert not (tmp_path / "e").exists() and not (tmp_path / "s").exists()


def test_replay_cli_with_stderr_to_a_pipe_prints_no_progress(tmp_path):
    import subprocess
    import sys


    src = write(tmp_path / "cmds.jsonl", script())
    p = subprocess.run([sys.executable, "-m", "console.cli", "replay", str(src), "--events-out",
                        str(tmp_path / "e"), "--state-out", str(tmp_path / "s")], cwd=ROOT,
                       capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stderr == b"" and b"\r" not in p.stdout


# ---- perpdesk demo --headless ------------------------------------------------------------------

def _play(progress, pieces: int | None = None):
    from console.demo import play
    from engine.sim import runner as scenario_runner
    from engine.sim.runner import ScenarioRun

    run = ScenarioRun("calm", accounts=40)
    out = io.StringIO()
    try:
        if pieces is not None:
            old = scenario_runner._SETUP_PIECE
            scenario_runner._SETUP_PIECE = pieces
        try:
            rep = play(run, out=out, progress=progress)
        finally:
            if pieces is not None:
                scenario_runner._SETUP_PIECE = old
    finally:
        run.close()
    return rep["state_hash"], out.getvalue()


def test_headless_demo_progress_on_a_terminal_changes_nothing_else():
    plain = _play(None)
    tty = FakeTTY()
    shown = _play(Progress(tty, clock=FakeClock()), pieces=7)  # the setup sent in pieces of 7
    assert shown == plain  # same state hash, same timeline
    text = tty.getvalue()
    assert "\rdemo: setup: " in text and "commands" in text
    assert "\rdemo: steps: " in text and "steps/s" in text and "left" in text


def test_headless_demo_cli_to_a_pipe_prints_no_progress(capsys):
    from console.cli import main

    assert main(["demo", "calm", "--headless", "--accounts", "40"]) in (0, 1)
    cap = capsys.readouterr()
    assert "\r" not in cap.err and "\r" not in cap.out and "demo: steps" not in cap.err


@pytest.mark.parametrize("flag", ["--progress", "--no-progress"])
def test_the_flag_parses_on_each_long_command(flag):
    from console.cli import build_parser

    p = build_parser()
    for argv in (["replay", "x.jsonl"], ["verify"], ["demo", "calm", "--headless"]):
        assert p.parse_args([*argv, flag]).progress is (flag == "--progress")
        assert p.parse_args(argv).progress is None
