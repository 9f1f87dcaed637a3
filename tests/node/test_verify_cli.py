"""`perpdesk verify` through the real command line entry point."""

from __future__ import annotations

import sqlite3

from console.cli import main
from engine.node.node import Node
from engine.node.roles import SYSTEM
from tests.kit import ADMIN

from .conftest import seed_venue


def build(db_url: str) -> None:
    n = Node.open(db_url, actor=ADMIN, snapshot_every=4)
    seed_venue(n)
    for ts in range(10, 16):
        n.call({"type": "place_order", "account": "alice", "market": "ETH-USD-PERP", "side": "sell",
                "size": "0.1", "price": "3400", "ts": ts}, actor=SYSTEM)
        n.call({"type": "place_order", "account": "bob", "market": "ETH-USD-PERP", "side": "buy",
                "size": "0.1", "price": "3400", "ts": ts}, actor=SYSTEM)
    n.call({"type": "emergency_brake", "reason": "drill", "ts": 20})
    n.close()


def test_verify_passes_on_a_sound_database(db_url, capsys):
    build(db_url)
    assert main(["verify", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "all checks hold" in out and "recovery (newest snapshot + journal tail)" in out


def test_verify_names_the_first_tampered_journal_row(db_url, tmp_path, capsys):
    build(db_url)
    con = sqlite3.connect(tmp_path / "node.db")
    seq = con.execute("select min(seq) from journal where type = 'place_order'").fetchone()[0]
    con.execute("update journal set payload = replace(payload, '\"3400\"', '\"3401\"') where seq = ?", (seq,))
    con.commit()
    con.close()
    assert main(["verify", "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert f"FAILED: journal chain: first bad record: journal seq {seq}" in out


def test_verify_catches_a_tampered_audit_record(db_url, tmp_path, capsys):
    build(db_url)
    con = sqlite3.connect(tmp_path / "node.db")
    con.execute("update audit set reason = 'nothing to see' where id = 1")
    con.commit()
    con.close()
    assert main(["verify", "--db", db_url]) == 1
    assert "audit chain: first bad record: audit id 1" in capsys.readouterr().out


def test_verify_refuses_a_file_that_is_not_a_perpdesk_database(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00garbage" * 500)
    assert main(["verify", "--db", f"sqlite:///{junk}"]) == 2
    err = capsys.readouterr().err
    assert "perpdesk verify:" in err and "Traceback" not in err


def test_verify_does_not_create_a_missing_database(tmp_path, capsys):
    missing = tmp_path / "nope.db"
    assert main(["verify", "--db", f"sqlite:///{missing}"]) == 2
    assert not missing.exists()


def test_verify_shows_progress_only_on_a_terminal(db_url, capsys, monkeypatch):
    import io

    from engine.tools import verify as verify_mod
    from engine.tools.progress import Progress

    class FakeTTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Clock:
        t = 0.0

        def __call__(self) -> float:
            self.t += 1.0
            return self.t

    build(db_url)
    assert main(["verify", "--db", db_url]) == 0
    piped = capsys.readouterr()
    assert "\r" not in piped.err and "\r" not in piped.out  # stderr is not a terminal here
    monkeypatch.setattr(verify_mod, "_REPLAY_EVERY", 1)
    out, tty = io.StringIO(), FakeTTY()
    assert verify_mod.run(db_url, out=out, err=tty, progress=Progress(tty, clock=Clock())) == 0
    assert out.getvalue() == piped.out  # the report itself is unchanged
    shown = tty.getvalue()
    assert "\rverify: journal chain: " in shown and "\rverify: replay: " in shown and "rows/s" in shown
    assert shown.endswith("\r")
