"""The venue's read cache (engine/venue/readcache.py): one engine read per (route, parameters, role,
head), fresh after a write or a node alert, never an answer computed for another role, bounded."""

from __future__ import annotations

from types import SimpleNamespace

import httpx

from engine.venue.gateway import Gateway
from engine.venue.readcache import ReadCache


def _count_engine_reads(node) -> list[str]:
    """Every engine read the node makes (``Node.read``: the engine lock), by view name."""
    calls: list[str] = []
    orig = node.read

    def counting(fn, *args, **kwargs):
        calls.append(getattr(fn, "__name__", "?"))
        return orig(fn, *args, **kwargs)

    node.read = counting
    return calls


def _client(v, name: str, role: str) -> httpx.Client:
    return httpx.Client(base_url=v.url, headers={"Authorization": f"Bearer {v.token(name, role)}"}, timeout=20)


def test_two_reads_at_one_head_cost_one_engine_read_and_the_same_bytes(venue):
    v = venue(market=False)
    node = v.service.desk.node
    calls = _count_engine_reads(node)
    seq = node.engine.seq
    with _client(v, "vera", "viewer") as c, _client(v, "walt", "viewer") as c2:
        a = c.get("/v1/status")
        b = c2.get("/v1/status")  # another client of the same role
        assert a.status_code == b.status_code == 200
        assert a.content == b.content
        assert calls.count("status") == 1
        c.get("/v1/book", params={"market": "BTC-USD-PERP"})
        c2.get("/v1/book", params={"market": "BTC-USD-PERP"})
        assert calls.count("book") == 1
        c.get("/v1/book", params={"market": "BTC-USD-PERP", "levels": 3})  # other parameters: another read
        assert calls.count("book") == 2
        # the overview shares the status and markets entries
        ov = c.get("/v1/overview", params={"now": 0}).json()
        c2.get("/v1/overview", params={"now": 0})
        c.get("/v1/markets")
        assert calls.count("status") == 1 and calls.count("markets") == 1
        assert ov["status"] == a.json() and ov["status"]["seq"] == seq
    assert node.engine.seq == seq  # nothing moved the head meanwhile: the counts above are per head
    assert v.service.reads.stats()["hits"] >= 5


def test_a_write_between_two_reads_gives_fresh_data(venue):
    v = venue(market=False)
    node = v.service.desk.node
    calls = _count_engine_reads(node)
    with _client(v, "olga", "operator") as c:
        before = c.get("/v1/status").json()
        assert before["brake_engaged"] is False
        out = c.post("/v1/brake", json={"reason": "drill"}).json()
        assert out["ok"], out
        after = c.get("/v1/status").json()
        assert after["brake_engaged"] is True and after["seq"] > before["seq"]
        assert calls.count("status") == 2
        ov = c.get("/v1/overview", params={"now": 0}).json()
        assert ov["status"]["brake_engaged"] is True


def test_a_node_alert_without_a_journal_move_gives_a_fresh_status(venue):
    v = venue(market=False)
    node = v.service.desk.node
    with _client(v, "vera", "viewer") as c:
        assert not any("disk nearly full" in a["message"] for a in c.get("/v1/status").json()["alerts"])
        seq = node.engine.seq
        node._alert("warning", "disk nearly full")  # published to subscribers, not journaled
        assert node.engine.seq == seq
        assert any("disk nearly full" in a["message"] for a in c.get("/v1/status").json()["alerts"])


def test_a_viewer_never_gets_an_answer_computed_for_an_admin(venue, monkeypatch):
    """No read filters by role today; if one does, the cache must not carry an admin's answer to a viewer
    at the same head (the key carries the role)."""
    orig = Gateway.status

    def status_by_role(self):
        st = orig(self)
        if self.who.role == "admin":
            st["admin_only"] = "the treasury key id"
        return st

    monkeypatch.setattr(Gateway, "status", status_by_role)
    v = venue(market=False)
    with _client(v, "ada", "admin") as admin, _client(v, "vera", "viewer") as viewer:
        assert admin.get("/v1/status").json()["admin_only"] == "the treasury key id"
        assert admin.get("/v1/overview", params={"now": 0}).json()["status"]["admin_only"]
        assert "admin_only" not in viewer.get("/v1/status").json()
        assert "admin_only" not in viewer.get("/v1/overview", params={"now": 0}).json()["status"]
        assert admin.get("/v1/status").json()["admin_only"] == "the treasury key id"


# ---- the cache itself, on a stand-in node ----------------------------------------------------------
def _node(seq: int = 1):
    subs: list = []
    node = SimpleNamespace(engine=SimpleNamespace(seq=seq), epoch=1, leader_epoch=0, subscribers=subs)
    node.subscribe = lambda fn: (subs.append(fn), lambda: subs.remove(fn))[1]
    return node


def test_the_cache_is_bounded_and_follows_the_head_the_engine_and_the_published_batches():
    node = _node()
    rc = ReadCache(node, max_entries=2, max_bytes=1000).attach()
    n = [0]

    def compute(tag: bytes):
        def f() -> bytes:
            n[0] += 1
            return tag + b"%d" % n[0]
        return f

    a = rc.get(("reads", "markets", "viewer", ()), compute(b"m"))
    assert rc.get(("reads", "markets", "viewer", ()), compute(b"m")) is a and n[0] == 1
    node.engine.seq += 1  # the head moved
    assert rc.get(("reads", "markets", "viewer", ()), compute(b"m")) != a and n[0] == 2
    for fn in node.subscribers:  # a published batch (a node alert, a feed batch)
        fn([{"type": "node_alert"}])
    rc.get(("reads", "markets", "viewer", ()), compute(b"m"))
    assert n[0] == 3
    node.engine = SimpleNamespace(seq=node.engine.seq)  # a recovery: same seq, another engine
    rc.get(("reads", "markets", "viewer", ()), compute(b"m"))
    assert n[0] == 4
    rc.get(("reads", "book", "viewer", (("market", "X"),)), compute(b"b"))
    rc.get(("reads", "book", "viewer", (("market", "Y"),)), compute(b"b"))
    assert rc.stats()["entries"] == 2  # max_entries: the least recently used went
    rc.get(("reads", "big", "viewer", ()), lambda: b"x" * 900)  # larger than max_bytes // 8: served, not kept
    assert rc.stats()["entries"] == 2 and rc.stats()["bytes"] <= 1000
    off = ReadCache(node, enabled=False)
    off.get(("reads", "markets", "viewer", ()), compute(b"m"))
    off.get(("reads", "markets", "viewer", ()), compute(b"m"))
    assert n[0] == 8


def test_the_event_hub_hands_a_stream_exactly_the_batches_after_its_number_also_past_the_buffer():
    from engine.venue.service import EventHub

    hub = EventHub(maxlen=4)
    for seq in range(1, 8):  # 7 batches kept 4 at a time
        hub([{"type": "liquidation", "seq": seq}])
    assert hub.n == 7 and [b[0] for b in hub.batches] == [4, 5, 6, 7]
    assert [b[0] for b in hub.since(5)] == [6, 7]
    assert [b[0] for b in hub.since(6)] == [7]
    assert hub.since(7) == [] and hub.since(9) == []
    assert [b[0] for b in hub.since(0)] == [4, 5, 6, 7]  # fell behind the buffer: what is kept
    assert [b[1] for b in hub.since(3)] == [4, 5, 6, 7]
