"""``perpdesk replay``: byte-identical outputs, stops on non-commands, goes on after refusals."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.core.markets import default_market_commands
from engine.tools.replay import ReplayError, replay_lines, run

ROOT = Path(__file__).resolve().parents[2]
BTC = "BTC-USD-PERP"


def script() -> list[dict]:
    cmds = list(default_market_commands(ts=1000))
    t = 2000
    for a in ("alice", "bob", "carol"):
        cmds.append({"type": "deposit", "ts": t, "account": a, "amount": "50000"})
    cmds += [
        {"type": "place_order", "ts": t + 1, "account": "bob", "market": BTC, "side": "sell", "size": "0.5",
         "price": "97000", "client_order_id": "b1"},
        {"type": "place_order", "ts": t + 2, "account": "alice", "market": BTC, "side": "buy", "size": "0.5",
         "price": "97000"},
        {"type": "place_order", "ts": t + 3, "account": "alice", "market": BTC, "side": "buy", "size": 0.1,
         "price": "97000"},  # refused: a float
        {"type": "place_order", "ts": t + 4, "account": "carol", "market": BTC, "side": "buy", "size": "1",
         "price": "95000"},
        {"type": "take_snapshot", "ts": t + 5, "label": "s", "operator": "op", "reason": "r"},
        {"type": "oracle_price", "ts": t + 6, "market": BTC, "price": "96500"},
        {"type": "tick", "ts": t + 3_600_000},
        {"type": "emergency_brake", "ts": t + 3_600_001, "operator": "op", "reason": "drill"},
        {"type": "release_brake", "ts": t + 3_600_002, "operator": "op", "reason": "drill"},
        {"type": "rollback", "ts": t + 3_600_003, "snapshot_id": "snap-11", "operator": "op", "reason": "r"},
    ]
    return cmds


def write(path: Path, cmds) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(c) for c in cmds) + b"\n")
    return path


def replay_in_process(tmp: Path, src: Path, tag: str):
    ev, st = tmp / f"events-{tag}.jsonl", tmp / f"state-{tag}.json"
    out, err = io.StringIO(), io.StringIO()
    rc = run(str(src), str(ev), str(st), out=out, err=err)
    return rc, ev, st, out.getvalue(), err.getvalue()


def test_replay_twice_is_byte_identical(tmp_path):
    src = write(tmp_path / "cmds.jsonl", script())
    rc1, ev1, st1, out1, _ = replay_in_process(tmp_path, src, "1")
    rc2, ev2, st2, _, _ = replay_in_process(tmp_path, src, "2")
    assert rc1 == rc2 == 0
    assert ev1.read_bytes() == ev2.read_bytes()
    assert st1.read_bytes() == st2.read_bytes()
    state = orjson.loads(st1.read_bytes())
    assert state["state_hash"] in out1
    assert state["validation"] == []
    events = [orjson.loads(line) for line in ev1.read_bytes().splitlines()]
    # a refused command became a rejected event and replay went on
    rej = [e for e in events if e["type"] == "rejected"]
    assert [r["code"] for r in rej] == ["float_not_allowed"]
    assert any(e["type"] == "rolled_back" for e in events)
    # the wire form carries decimal strings, never floats
    trade = next(e for e in events if e["type"] == "trade")
    assert trade["price"] == "97000" and trade["size"] == "0.5" and trade["taker_fee"] == "9.7"
    for e in events:
        assert not any(isinstance(x, float) for x in e.values())
    # the canonical state has what the contract lists
    assert set(state["markets"][BTC]) >= {"mode", "mark_price", "funding_index", "open_interest"}
    assert state["accounts"]["alice"]["positions"][BTC]["size"] == "0.5"
    assert "insurance_fund" in state and "platform_access" in state


def test_replay_in_fresh_processes_is_byte_identical(tmp_path):
    src = write(tmp_path / "cmds.jsonl", script())
    _rc, ev0, st0, _, _ = replay_in_process(tmp_path, src, "inproc")
    outs = []
    for tag, seed in (("a", "0"), ("b", "12345")):
        ev, st = tmp_path / f"ev-{tag}.jsonl", tmp_path / f"st-{tag}.json"
        # a different hash seed per process: set iteration order must not leak into the output
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        p = subprocess.run([sys.executable, "-m", "console.cli", "replay", str(src), "--events-out", str(ev),
                            "--state-out", str(st)], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        outs.append((ev.read_bytes(), st.read_bytes()))
    assert outs[0] == outs[1] == (ev0.read_bytes(), st0.read_bytes())


@pytest.mark.parametrize(
    ("bad_line", "why"),
    [
        (b"{not json", "not JSON"),
        (b'{"type": "launch_rockets", "ts": 5}', "unknown command"),
        (b'{"ts": 5}', "no \\\"type\\\""),
        (b"[1, 2]", "expected a JSON object"),
    ],
)
def test_replay_stops_on_a_non_command_with_line_number_and_writes_nothing(tmp_path, bad_line, why):
    cmds = script()
    lines = [orjson.dumps(c) for c in cmds[:6]] + [bad_line] + [orjson.dumps(c) for c in cmds[6:]]
    src = tmp_path / "cmds.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    ev, st = tmp_path / "ev.jsonl", tmp_path / "st.json"
    err = io.StringIO()
    rc = run(str(src), str(ev), str(st), out=io.StringIO(), err=err)
    assert rc != 0
    assert "line 7" in err.getvalue()
    assert not ev.exists() and not st.exists()
    with pytest.raises(ReplayError) as ei:
        replay_lines(src.read_bytes().splitlines())
    assert ei.value.line_no == 7


def test_replay_cli_exit_code_in_a_fresh_process(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b'{"type":"tick","ts":1}\n\n{"type":"nope"}\n')
    ev, st = tmp_path / "ev.jsonl", tmp_path / "st.json"
    p = subprocess.run([sys.executable, "-m", "console.cli", "replay", str(src), "--events-out", str(ev),
                        "--state-out", str(st)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "line 3" in p.stderr
    assert not ev.exists() and not st.exists()


def test_replay_missing_file(tmp_path):
    err = io.StringIO()
    assert run(str(tmp_path / "missing.jsonl"), None, None, out=io.StringIO(), err=err) != 0
    assert "cannot read" in err.getvalue()


def test_blank_lines_are_skipped_and_seq_counts_commands(tmp_path):
    cmds = script()
    src = tmp_path / "c.jsonl"
    src.write_bytes(b"\n\n".join(orjson.dumps(c) for c in cmds) + b"\n\n")
    eng = replay_lines(src.read_bytes().splitlines())
    assert eng.seq == len(cmds)


# ---- the fast event writer is byte-identical to the plain definition --------------------------

_REF_FIELDS = {
    **dict.fromkeys(("price", "mark_price", "index_price", "trigger_price", "avg_price", "bankruptcy_price"), 6),
    **dict.fromkeys(("size", "remaining", "filled", "long_oi", "short_oi", "open_interest"), 8),
    **dict.fromkeys(("amount", "fee", "maker_fee", "taker_fee", "bad_debt", "balance", "change", "total"), 6),
    "funding_index": 12,
    "rate": 8,
    "premium": 8,
    "previous_index": 6,
}


def _reference_line(ev: dict) -> bytes:
    """The contract's wire form spelled out with the slow, obviously right formatter."""
    from engine.core.fixedpoint import format_decimal

    out = {k: (format_decimal(v, _REF_FIELDS[k]) if k in _REF_FIELDS and type(v) is int else v)
           for k, v in ev.items()}
    return orjson.dumps(out) + b"\n"


def _busy_script() -> list[dict]:
    """The build-equivalence simulator run (fills, triggers, liquidations, funding, a snapshot)
    plus awkward names and values: quotes, backslashes, non-ASCII, negative funding, many prices."""
    from test_build_equivalence import _commands

    # the guard rails' circuit breaker would stop this stream's liquidation cascade; this test is about
    # encoding every kind of event, so the venue runs without them
    cmds = [{"type": "set_safeguards", "enabled": False, "operator": "t", "reason": "encoding test"}, *_commands()]
    ts = max(c.get("ts", 0) for c in cmds)
    odd = "ünï\"cö\\dé"
    cmds += [
        {"type": "deposit", "ts": ts, "account": odd, "amount": "10.000001"},
        {"type": "place_order", "ts": ts, "account": odd, "market": BTC, "side": "sell", "size": "0.00100000",
         "order_type": "market", "client_order_id": "c\u00e9"},
        {"type": "place_order", "ts": ts, "account": odd, "market": BTC, "side": "buy", "size": "0.001",
         "price": "1", "client_order_id": "q\"1"},
        {"type": "withdraw", "ts": ts, "account": odd, "amount": "1.123456789"},
        # a spike (the mark follows the oracle, not a thin book: a liquidation needs the oracle to move)
        {"type": "oracle_price", "ts": ts, "market": "SOL-USD-PERP", "price": "800"},
        {"type": "tick", "ts": ts + 10**9},
        {"type": "load_market_state", "ts": ts + 10**9, "market": BTC, "mark_price": "50000.5",
         "funding_index": "-0.000000000001"},
    ]
    return cmds


def test_replay_events_file_is_the_plain_encoding_of_every_event(tmp_path):
    cmds = _busy_script()
    src = write(tmp_path / "busy.jsonl", cmds)
    rc, ev, _st, _out, err = replay_in_process(tmp_path, src, "busy")
    assert rc == 0, err
    expected: list[bytes] = []
    replay_lines(src.read_bytes().splitlines(), on_events=lambda evs: expected.extend(map(_reference_line, evs)))
    got = ev.read_bytes()
    assert got == b"".join(expected)
    kinds = {orjson.loads(line)["type"] for line in got.splitlines()}
    assert {"trade", "liquidation", "funding", "order_triggered", "rejected", "snapshot_taken"} <= kinds


def test_event_writer_matches_event_to_wire_and_leaves_no_ints_behind():
    from engine.core.wire import event_to_wire, write_events_jsonl
    from engine.tools.replay import replay_lines as rl

    lines = [orjson.dumps(c) for c in _busy_script()]
    evs: list[dict] = []
    rl(lines, on_events=evs.extend)
    wire = [orjson.dumps(event_to_wire(e)) + b"\n" for e in evs]
    buf = bytearray()
    write_events_jsonl(evs, buf)
    assert bytes(buf) == b"".join(wire) == b"".join(map(_reference_line, evs))


def _order_flow(n: int) -> list[dict]:
    cmds = list(default_market_commands(ts=1000))
    cmds += [{"type": "deposit", "account": a, "amount": "10000000"} for a in ("alice", "bob")]
    for i in range(n):  # resting orders on both sides, and crossing ones that trade
        side = "buy" if i % 2 else "sell"
        px = 97000 + (i % 40 - 20) * (1 if side == "sell" else -1) + (25 if i % 7 == 0 else 0)
        cmds.append({"type": "place_order", "account": "alice" if i % 3 else "bob", "market": BTC, "side": side,
                     "size": "0.001", "price": f"{px}", "client_order_id": f"c{i}"})
    return cmds


def test_a_long_replay_streams_its_events_in_pieces_with_the_same_bytes(tmp_path):
    """EVENTS.jsonl leaves memory in ~1 MB pieces (several here): the file is the same bytes as
    every event's wire form written in one go, and the temporary file is gone afterwards."""
    from engine.core.wire import write_events_jsonl

    cmds = _order_flow(12_000)
    src = write(tmp_path / "cmds.jsonl", cmds)
    rc, ev, st, _, err = replay_in_process(tmp_path, src, "long")
    assert rc == 0, err
    whole = bytearray()
    replay_lines(src.read_bytes().splitlines(), on_events=lambda evs: write_events_jsonl(evs, whole))
    assert len(whole) > 3 * (1 << 20)  # more than three pieces
    assert ev.read_bytes() == bytes(whole)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmds.jsonl", "events-long.jsonl", "state-long.json"]


def test_a_bad_line_after_several_pieces_leaves_no_output(tmp_path):
    cmds = _order_flow(12_000)
    lines = [orjson.dumps(c) for c in cmds]
    lines.insert(11_000, b'{"type": "place_order", "account": ')  # cut short
    src = tmp_path / "cmds.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    rc, ev, st, _, err = replay_in_process(tmp_path, src, "bad")
    assert rc == 2 and "line 11001" in err and "not JSON" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmds.jsonl"]  # no events, no state, no temporary file


# ---- outputs as a pair, never colliding ------------------------------------------------------------
def _names(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


@pytest.mark.parametrize("which", ["events=state", "events=input", "state=input", "state=events.tmp"])
def test_replay_refuses_output_paths_that_collide(tmp_path, which):
    src = write(tmp_path / "cmds.jsonl", script())
    original = src.read_bytes()
    ev, st = tmp_path / "events.jsonl", tmp_path / "state.json"
    if which == "events=state":
        st = ev
    elif which == "events=input":
        ev = src
    elif which == "state=input":
        st = tmp_path / "." / "cmds.jsonl"  # the same file by another spelling
    else:
        st = tmp_path / "events.jsonl.tmp"
    out, err = io.StringIO(), io.StringIO()
    assert run(str(src), str(ev), str(st), out=out, err=err) == 2
    assert "same file" in err.getvalue() and "nothing written" in err.getvalue()
    assert src.read_bytes() == original
    assert _names(tmp_path) == ["cmds.jsonl"]


def test_replay_writes_both_outputs_or_neither_when_the_state_cannot_be_written(tmp_path):
    """The state file's directory does not exist: before, EVENTS.jsonl was already renamed into place
    beside no (or an older) state; now neither is written and no temporary file is left."""
    src = write(tmp_path / "cmds.jsonl", script())
    ev = tmp_path / "events.jsonl"
    out, err = io.StringIO(), io.StringIO()
    rc = run(str(src), str(ev), str(tmp_path / "missing" / "state.json"), out=out, err=err)
    assert rc == 2 and "cannot write output" in err.getvalue()
    assert _names(tmp_path) == ["cmds.jsonl"]


def test_replay_whose_state_cannot_be_encoded_exits_cleanly_and_leaves_nothing(tmp_path, monkeypatch):
    from engine.core.snapshot import StateEncodeError
    from engine.tools import replay as replay_mod

    def unencodable(engine):
        raise StateEncodeError("the state cannot be encoded: state.accounts.a[0] = 18446744073709551616 is beyond signed 64 bits")

    monkeypatch.setattr(replay_mod, "render_state", unencodable)
    src = write(tmp_path / "cmds.jsonl", script())
    ev, st = tmp_path / "events.jsonl", tmp_path / "state.json"
    st.write_bytes(b"old state")  # an older pair stays as it was: both or neither
    ev.write_bytes(b"old events")
    out, err = io.StringIO(), io.StringIO()
    assert run(str(src), str(ev), str(st), out=out, err=err) == 1
    assert "cannot be written" in err.getvalue() and "beyond signed 64 bits" in err.getvalue()
    assert _names(tmp_path) == ["cmds.jsonl", "events.jsonl", "state.json"]
    assert (ev.read_bytes(), st.read_bytes()) == (b"old events", b"old state")
