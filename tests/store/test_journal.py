"""Journal: append, iterate, order, atomic batches, hash chain, rollback marking."""

from __future__ import annotations

import pytest

from engine.store.store import (
    GENESIS,
    JournalConflictError,
    JournalEntry,
    RollbackMark,
    Store,
    StoreError,
    journal_hash,
)

from .helpers import entries, raw_exec


def test_append_and_iterate_in_order(store):
    assert store.head() == (0, GENESIS)
    store.append_journal(entries(1, 101))
    head = store.append_journal(entries(101, 251))
    assert head[0] == 250 and store.last_seq() == 250 and store.count_journal() == 250
    rows = list(store.iter_journal())
    assert [r.seq for r in rows] == list(range(1, 251))
    assert rows[-1].hash == head[1]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    r = rows[9]  # seq 10
    assert r.command == {"type": "deposit", "account": "a3", "amount": "1.5", "ts": 1010, "seq": 10}
    assert r.payload == '{"account":"a3","amount":"1.5","seq":10,"ts":1010,"type":"deposit"}'
    assert r.outcome == "rejected:insufficient" and r.epoch == 1 and not r.rolled_back
    assert r.hash == journal_hash(r.prev_hash, r.seq, r.ts, r.type, r.epoch, r.outcome, r.payload, key=store.key)
    assert [x.seq for x in store.iter_journal(after_seq=245)] == [246, 247, 248, 249, 250]
    assert [x.seq for x in store.iter_journal(after_seq=10, upto_seq=12)] == [11, 12]
    assert store.get_journal(7).seq == 7 and store.get_journal(999) is None
    assert store.verify_chains() == []


def test_payload_forms_and_mappings(store):
    store.append_journal([
        {"seq": 1, "ts": 5, "type": "tick", "payload": {"ts": 5, "type": "tick"}},
        JournalEntry(2, 6, "tick", '{"ts":6,"type":"tick"}'),
        JournalEntry(3, None, "tick", b'{"type":"tick"}', "rejected:bad"),
    ])
    rows = list(store.iter_journal())
    assert [r.payload for r in rows] == ['{"ts":5,"type":"tick"}', '{"ts":6,"type":"tick"}', '{"type":"tick"}']
    assert rows[2].ts is None and rows[2].outcome == "rejected:bad"
    assert store.verify_chains() == []


def test_head_survives_reopen(store_url):
    with Store.open(store_url) as s:
        head = s.append_journal(entries(1, 11))
    with Store.open(store_url) as s:
        assert s.head() == head
        s.append_journal(entries(11, 21))
        assert s.last_seq() == 20 and s.verify_chains() == []


def test_streaming_many_rows(store):
    n = 20_000
    store.append_journal(entries(1, n + 1))
    it = store.iter_journal(batch_size=1000)
    first = next(it)
    assert first.seq == 1
    last = first.seq
    count = 1
    for r in it:
        assert r.seq == last + 1
        last, count = r.seq, count + 1
    assert count == n
    gen = store.iter_journal(batch_size=500)
    next(gen)
    gen.close()  # abandoning an iterator releases its connection
    assert store.last_seq() == n


def test_seq_must_continue_and_nothing_is_half_written(store):
    store.append_journal(entries(1, 6))
    with pytest.raises(JournalConflictError, match="expected 6"):
        store.append_journal(entries(7, 9))
    with pytest.raises(JournalConflictError):
        store.append_journal(entries(3, 5))  # already journaled
    bad = entries(6, 10)
    bad[2] = JournalEntry(8, 1, "deposit", {"x": float("inf")}, "ok", None)._replace(payload=object())
    with pytest.raises(StoreError, match="Nothing was written"):
        store.append_journal(bad)
    assert store.last_seq() == 5 and store.count_journal() == 5
    gap = entries(6, 10)
    gap[3] = gap[3]._replace(seq=42)
    with pytest.raises(JournalConflictError):
        store.append_journal(gap)
    assert store.last_seq() == 5 and store.count_journal() == 5
    assert store.verify_chains() == []


def test_empty_journal_may_start_after_a_snapshot(store):
    store.append_journal(entries(1001, 1004))
    assert store.last_seq() == 1003 and store.verify_chains() == []


def test_tampered_payload_is_named(store, store_url):
    store.append_journal(entries(1, 21))
    raw_exec(store_url, "UPDATE journal SET payload = :p WHERE seq = 7",
             {"p": '{"account":"a0","amount":"1000000","type":"deposit"}'})
    problems = store.verify_chains()
    assert len(problems) == 1
    p = problems[0]
    assert (p.chain, p.record) == ("journal", 7)
    assert "journal seq 7" in str(p) and "altered" in str(p)


def test_tampered_and_rehashed_row_is_caught_at_the_next(store, store_url):
    store.append_journal(entries(1, 11))
    r = store.get_journal(4)
    payload = '{"account":"evil","amount":"9","type":"deposit"}'
    h = journal_hash(r.prev_hash, r.seq, r.ts, r.type, r.epoch, r.outcome, payload, key=store.key)
    raw_exec(store_url, "UPDATE journal SET payload = :p, hash = :h WHERE seq = 4", {"p": payload, "h": h})
    [p] = store.verify_chains()
    assert p.record == 5 and "prev_hash" in p.problem and "seq 4" in p.problem


def test_deleted_rows_are_caught(store, store_url):
    store.append_journal(entries(1, 11))
    raw_exec(store_url, "DELETE FROM journal WHERE seq = 6")
    [p] = store.verify_chains()
    assert p.record == 7 and "missing" in p.problem


def test_truncated_tail_is_caught(store, store_url):
    store.append_journal(entries(1, 11))
    raw_exec(store_url, "DELETE FROM journal WHERE seq > 8")
    [p] = store.verify_chains()
    assert p.record is None and "ends at seq 8" in p.problem and "seq 10" in p.problem


def test_mark_rolled_back(store):
    store.append_journal(entries(1, 11))
    assert store.current_epoch() == 1
    # rollback command at seq 10 restored a snapshot taken at seq 4: rows 5..9 discarded
    n = store.mark_rolled_back(4, 9, 2, snapshot_id="snap-4", rollback_seq=10)
    assert n == 5
    assert store.current_epoch() == 2
    store.append_journal(entries(11, 16))  # epoch defaults to the current one
    rows = {r.seq: r for r in store.iter_journal()}
    assert [s for s, r in rows.items() if r.rolled_back] == [5, 6, 7, 8, 9]
    assert {rows[s].rolled_back_epoch for s in range(5, 10)} == {2}
    assert [rows[s].epoch for s in (1, 9, 10, 11, 15)] == [1, 1, 1, 2, 2]
    assert [r.seq for r in store.iter_journal(epoch=2)] == [11, 12, 13, 14, 15]
    assert 7 not in [r.seq for r in store.iter_journal(live_only=True)]
    # marks are outside the hash: the chain still verifies
    assert store.verify_chains() == []
    # a second rollback to an older snapshot keeps the first marking of rows 5..9
    n = store.mark_rolled_back(2, 14, 3, snapshot_id="snap-2", rollback_seq=15)
    assert n == 14 - 2 - 5
    rows = {r.seq: r for r in store.iter_journal()}
    assert rows[6].rolled_back_epoch == 2 and rows[3].rolled_back_epoch == 3
    assert rows[12].rolled_back_epoch == 3 and not rows[15].rolled_back
    assert [(e.epoch, e.after_seq, e.upto_seq, e.snapshot_id) for e in store.list_epochs()] == [
        (2, 4, 9, "snap-4"), (3, 2, 14, "snap-2")]
    with pytest.raises(JournalConflictError, match="not after the current epoch"):
        store.mark_rolled_back(1, 2, 3)


def test_rollback_marking_commits_with_the_batch(store):
    store.append_journal(entries(1, 6))
    batch = entries(6, 8) + entries(8, 10, epoch=2)  # rollback command at seq 7
    store.append_journal(batch, rollbacks=[RollbackMark(3, 6, 2, "snap-3", 7)])
    rows = {r.seq: r for r in store.iter_journal()}
    assert [s for s, r in rows.items() if r.rolled_back] == [4, 5, 6]
    assert [rows[s].epoch for s in (7, 8, 9)] == [1, 2, 2]
    assert store.current_epoch() == 2
    # a failing marking rolls back the whole batch
    with pytest.raises(JournalConflictError):
        store.append_journal(entries(10, 12), rollbacks=[RollbackMark(1, 9, 2)])
    assert store.last_seq() == 9
    assert store.verify_chains() == []
