"""Issue 14: every start verifies what it will trust; a keyed chain; lost WAL; the refund crash window.

Every corruption is made here, on a real SQLite file, behind perpdesk's back."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3

import pytest

from engine.core import Engine
from engine.core import snapshot as snapshot_mod
from engine.node.node import Node, NodeError, TrustError
from engine.node.roles import SYSTEM
from engine.store import trust
from engine.store.store import Store, journal_hash
from engine.tools.refunds_export import read_csv, run_export
from engine.tools.verify import run as verify_run
from tests.kit import ADMIN, APPROVER, OPERATOR

from .conftest import seed_venue


def build(db_url: str, snapshot_at_end: bool = True) -> None:
    n = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    seed_venue(n)
    for ts in range(10, 16):
        n.call({"type": "place_order", "account": "alice", "market": "ETH-USD-PERP", "side": "sell",
                "size": "0.1", "price": "3400", "ts": ts}, actor=SYSTEM)
    if snapshot_at_end:
        assert n.call({"type": "take_snapshot", "label": "t", "ts": 20}, actor=ADMIN).ok
    for ts in range(21, 25):
        n.call({"type": "place_order", "account": "bob", "market": "ETH-USD-PERP", "side": "buy",
                "size": "0.1", "price": "3300", "ts": ts}, actor=SYSTEM)
    n.close()


def sql(tmp_path, stmt: str, params=()) -> list:
    con = sqlite3.connect(tmp_path / "node.db")
    try:
        rows = con.execute(stmt, params).fetchall()
        con.commit()
    finally:
        con.close()
    return rows


def snapshot_seq(tmp_path) -> int:
    return sql(tmp_path, "select max(seq) from snapshots")[0][0]


def refused(db_url) -> str:
    with pytest.raises(TrustError) as e:
        Node.open(db_url, actor=ADMIN)
    msg = str(e.value)
    assert "perpdesk verify" in msg and "older snapshot" in msg
    return msg


def verify_out(db_url) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = verify_run(db_url, out, err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue() + err.getvalue()


def test_a_sound_database_opens_and_verify_says_keyed(db_url):
    build(db_url)
    Node.open(db_url, actor=ADMIN).close()
    code, out = verify_out(db_url)
    assert code == 0, out
    assert "journal chain keyed (key id" in out and "an edit cannot be hidden without the key" in out
    assert "acknowledged head: the journal holds every command" in out
    key = trust.key_file()
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600


def test_tail_rows_deleted_refuse_to_open(db_url, tmp_path):
    build(db_url)
    last = sql(tmp_path, "select max(seq) from journal")[0][0]
    sql(tmp_path, "delete from journal where seq > ?", (last - 2,))
    msg = refused(db_url)
    assert f"ends at seq {last - 2}" in msg and f"head at seq {last}" in msg


def test_payload_edited_before_the_snapshot_refuses_to_open(db_url, tmp_path):
    build(db_url)
    assert snapshot_seq(tmp_path) > 5
    sql(tmp_path, "update journal set payload = replace(payload, '0.1', '9.1') where seq = ?",
        (snapshot_seq(tmp_path) - 3,))
    msg = refused(db_url)
    assert f"journal seq {snapshot_seq(tmp_path) - 3}" in msg and "altered" in msg


def test_middle_row_deleted_before_the_snapshot_refuses_to_open(db_url, tmp_path):
    build(db_url)
    sql(tmp_path, "delete from journal where seq = 4")
    assert "journal seq 5" in refused(db_url) and "missing" in refused(db_url)


def test_audit_row_edited_refuses_to_open(db_url, tmp_path):
    build(db_url)
    sql(tmp_path, "update audit set reason = 'nothing to see' where id = 1")
    assert "audit id 1" in refused(db_url)


def forge_snapshot(tmp_path) -> None:
    """Add 1,000,000 USDC to alice in the newest snapshot and recompute its SHA-256."""
    sid, data = sql(tmp_path, "select id, data from snapshots order by seq desc limit 1")[0]
    eng = Engine()
    snapshot_mod.restore(eng, snapshot_mod.decode(bytes(data)))
    eng.accounts["alice"].cash += 1_000_000 * 10**6
    forged = snapshot_mod.encode(eng)
    sql(tmp_path, "update snapshots set data = ?, state_hash = ?, size = ? where id = ?",
        (forged, snapshot_mod.hash_bytes(forged), len(forged), sid))


def test_a_forged_snapshot_with_a_recomputed_hash_refuses_to_open(db_url, tmp_path):
    build(db_url)
    forge_snapshot(tmp_path)
    msg = refused(db_url)
    assert "snapshot" in msg and "forged" in msg
    code, out = verify_out(db_url)
    assert code == 1


def recompute_unkeyed_from(tmp_path, seq: int) -> None:
    """Re-hash rows seq.. with the public (unkeyed) function and update journal_head, as an attacker would."""
    rows = sql(tmp_path, "select seq, ts, type, epoch, outcome, payload, prev_hash from journal where seq >= ? "
                         "order by seq", (seq,))
    prev = rows[0][6]
    con = sqlite3.connect(tmp_path / "node.db")
    for s, ts, type_, epoch, outcome, payload, _p in rows:
        h = journal_hash(prev, s, ts, type_, epoch, outcome, payload)
        con.execute("update journal set prev_hash = ?, hash = ? where seq = ?", (prev, h, s))
        prev = h
    con.execute("update perpdesk_meta set value = ? where key = 'journal_head'", (f"{rows[-1][0]} {prev}",))
    con.commit()
    con.close()


def test_an_edit_recomputed_with_the_public_function_is_caught(db_url, tmp_path):
    build(db_url)
    seq = snapshot_seq(tmp_path) + 2
    sql(tmp_path, "update journal set payload = replace(payload, '3300', '1') where seq = ?", (seq,))
    recompute_unkeyed_from(tmp_path, seq)
    msg = refused(db_url)
    assert f"journal seq {seq}" in msg and "keyed hash" in msg
    code, out = verify_out(db_url)
    assert code == 1 and f"journal seq {seq}" in out


def test_an_unkeyed_database_stays_readable_and_is_reported(db_url):
    n = Node(store=Store.open(db_url, key=None), actor=ADMIN, snapshot_every=0)  # an older perpdesk's writes
    n.recover()
    seed_venue(n)
    last = n.engine.seq
    n.close()
    code, out = verify_out(db_url)
    assert code == 0 and "journal chain unkeyed: recomputation would hide an edit" in out
    n = Node.open(db_url, actor=ADMIN)  # keyed from the next row on
    assert n.call({"type": "deposit", "account": "alice", "amount": "1", "ts": 30}, actor=SYSTEM).ok
    n.close()
    code, out = verify_out(db_url)
    assert code == 0 and f"journal chain keyed from seq {last + 1}" in out, out


def test_another_key_refuses_to_open(db_url, monkeypatch):
    build(db_url)
    monkeypatch.setenv(trust.ENV_KEY, "another-key-entirely-0123456789")
    assert "key" in refused(db_url)


def test_a_deleted_journal_head_row_fails_verify_and_start(db_url, tmp_path):
    build(db_url)
    sql(tmp_path, "delete from perpdesk_meta where key = 'journal_head'")
    code, out = verify_out(db_url)
    assert code != 0 and "journal_head" in out
    assert "journal_head" in refused(db_url)


def test_a_lost_wal_is_named_against_the_acknowledged_head(tmp_path):
    """The WAL (and SHM) lost after acknowledged commits: the main file alone is an older journal."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    n = Node.open(url, actor=ADMIN, snapshot_every=0)
    seed_venue(n)
    n.close()  # checkpointed: the main file holds the seed
    store = Store.open(url, key=trust.load_key(), pragmas={"wal_autocheckpoint": 0})
    n = Node(store=store, actor=ADMIN, snapshot_every=0)
    n.recover(verify=True)
    n._start_anchor()
    for ts in range(30, 90):
        assert n.call({"type": "deposit", "account": "alice", "amount": "1", "ts": ts}, actor=SYSTEM).ok
    n._anchor.flush()
    acked = n.engine.seq
    # what a crash after losing FILE-wal leaves: the main file without the WAL's frames
    shutil.copyfile(tmp_path / "live.db", tmp_path / "node.db")
    shutil.copyfile(tmp_path / "live.db.anchor", tmp_path / "node.db.anchor")
    n.close()
    lost = f"sqlite:///{tmp_path / 'node.db'}"
    assert not os.path.exists(tmp_path / "node.db-wal")
    msg = refused(lost)
    assert f"acknowledged seq {acked}" in msg and "lost WAL" in msg
    code, out = verify_out(lost)
    assert code == 1 and f"acknowledged seq {acked}" in out


def test_an_altered_anchor_is_refused(db_url, tmp_path):
    build(db_url)
    anchor = tmp_path / "node.db.anchor"
    anchor.write_text(anchor.read_text().replace('"seq":', '"seq":1'))
    assert "anchor" in refused(db_url)


def test_a_crash_between_the_refund_credit_and_its_record_is_completed(db_url, monkeypatch):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    seed_venue(node)
    rec = node.propose_refund("carol", "125.5", "bad mark", actor=OPERATOR)
    node.decide_refund(rec["refund_id"], True, "checked", actor=APPROVER)

    def crash(refund_id):
        raise SystemExit("crash between the journaled credit and the refund row")

    monkeypatch.setattr(node, "_refund_paid_hook", crash)
    with pytest.raises(SystemExit):
        node.pay_refund(rec["refund_id"], actor=APPROVER)
    credit_seq = node.engine.credits[rec["refund_id"]]["seq"]
    assert node.store.get_refund(rec["refund_id"])["status"] == "approved"  # the window
    node.close()
    node = Node.open(db_url, actor=ADMIN)
    try:
        r = node.store.get_refund(rec["refund_id"])
        assert (r["status"], r["paid_seq"]) == ("paid", credit_seq)
        with pytest.raises(NodeError) as e:
            node.pay_refund(rec["refund_id"], actor=APPROVER)
        assert e.value.code == "already_paid" and str(credit_seq) in e.value.message
    finally:
        node.close()
    out = io.StringIO()
    assert run_export(db_url, None, out, io.StringIO()) == 0
    [row] = read_csv(out.getvalue())
    assert (row["status"], row["paid_seq"]) == ("paid", str(credit_seq))


def test_paying_again_in_the_window_completes_the_record(db_url, monkeypatch):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    seed_venue(node)
    rec = node.propose_refund("carol", "5", "bad mark", actor=OPERATOR)
    node.decide_refund(rec["refund_id"], True, "checked", actor=APPROVER)
    monkeypatch.setattr(node, "_refund_paid_hook", lambda rid: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        node.pay_refund(rec["refund_id"], actor=APPROVER)
    monkeypatch.undo()
    res = node.pay_refund(rec["refund_id"], actor=APPROVER)
    assert (res.ok, res.code) == (False, "already_paid")
    assert node.store.get_refund(rec["refund_id"])["status"] == "paid"
    node.close()


def test_verify_on_flipped_bytes_never_prints_a_traceback(db_url, tmp_path):
    build(db_url)
    path = tmp_path / "node.db"
    data = bytearray(path.read_bytes())
    for off in range(4096 * 2, len(data), 997):  # past the header page: the file still opens
        data[off] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out = verify_out(db_url)
    assert code != 0 and out.strip()


# ---- start verification within budget: a long journal before the snapshot ------------------
@pytest.fixture
def long_prefix(monkeypatch):
    """As on a big journal: the rows before the restored snapshot are more than a start verifies."""
    import engine.node.recovery as recovery_mod  # (where recover() reads it)

    monkeypatch.setattr(recovery_mod, "START_VERIFY_PREFIX_ROWS", 0)


def test_a_long_journal_before_the_snapshot_is_verified_in_the_background(db_url, long_prefix):
    build(db_url)
    n = Node.open(db_url, actor=ADMIN)
    try:
        s = n.snapshots()[-1]["seq"]
        assert s > 5
        assert n.background_verification(wait=60) == {"status": "ok", "upto_seq": s}
    finally:
        n.close()


def test_an_edit_before_the_snapshot_is_caught_in_the_background_with_an_alert(db_url, tmp_path, long_prefix):
    build(db_url)
    seq = snapshot_seq(tmp_path) - 3
    sql(tmp_path, "update journal set payload = replace(payload, '0.1', '9.1') where seq = ?", (seq,))
    n = Node.open(db_url, actor=ADMIN)  # its state comes from the snapshot and the rows after it
    try:
        bg = n.background_verification(wait=60)
        assert bg["status"] == "failed" and f"journal seq {seq}" in bg["problem"] and "altered" in bg["problem"]
        assert any(a["severity"] == "critical" and f"journal seq {seq}" in a["message"] for a in n.alerts)
    finally:
        n.close()
    assert verify_out(db_url)[0] == 1  # perpdesk verify still checks every row


def test_a_row_deleted_before_the_snapshot_still_refuses_to_open(db_url, tmp_path, long_prefix):
    build(db_url)
    sql(tmp_path, "delete from journal where seq = 4")
    msg = refused(db_url)
    assert "rows were deleted" in msg


def test_the_rows_from_the_snapshot_to_the_head_are_verified_at_start(db_url, tmp_path, long_prefix):
    build(db_url)
    s = snapshot_seq(tmp_path)
    for seq in (s, s + 2):  # the snapshot's own row (its link to the row before) and one after it
        bak = tmp_path / "bak.db"
        shutil.copy(tmp_path / "node.db", bak)
        sql(tmp_path, "update journal set ts = ts + 1 where seq = ?", (seq,))
        assert f"journal seq {seq}" in refused(db_url)
        shutil.copy(bak, tmp_path / "node.db")
    sql(tmp_path, "update journal set prev_hash = ? where seq = ?", ("0" * 64, s))  # its link, alone
    assert f"journal seq {s}" in refused(db_url)
