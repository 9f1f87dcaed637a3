"""A rollback keeps the money that crossed the venue's edge after the snapshot: deposits, withdrawals
and paid credits are re-applied after the restore, never rewound, so money out never exceeds money in
whatever the operators roll back, and a paid refund is never paid twice."""

from __future__ import annotations

from engine_helpers import BTC, Venue, of_type, one, rejected_code

from engine.analysis.rollback import preview
from engine.core.checks import money_conserved, run_checks

M = 10**6  # micro-USDC per USDC


class Ledger:
    """The venue's edge as the outside world sees it: every USDC that came in or went out."""

    def __init__(self) -> None:
        self.into = 0
        self.out = 0

    def see(self, evs: list[dict]) -> list[dict]:
        for ev in evs:
            if ev["type"] == "deposited":
                self.into += ev["amount"]
            elif ev["type"] == "withdrawn":
                self.out += ev["amount"]
            elif ev["type"] == "credited" and ev["fund"] == "treasury":
                self.into += ev["amount"]
            elif ev["type"] == "insurance_fund" and ev["reason"] == "funded":
                self.into += ev["amount"] if "amount" in ev else ev["change"]
        return evs


def _snap(v: Venue) -> str:
    return one(v.op("take_snapshot", label="before"), "snapshot_taken")["snapshot_id"]


def test_withdrawal_and_paid_refund_survive_a_rollback(bare):
    """The incident: 15,000 in, a 6,400 refund paid, 21,400 withdrawn, then a rollback. Before, the
    rollback rewound both, so the same money could leave again (and the refund be paid again)."""
    v, led = bare, Ledger()
    led.see(v.deposit("alice", "15000"))
    sid = _snap(v)
    led.see(v.op("credit", account="alice", amount="6400", refund_id="r-1", fund="treasury"))
    led.see(v.withdraw("alice", "21400"))
    evs = led.see(v.op("rollback", snapshot_id=sid))
    assert one(evs, "edge_flows_reapplied")["flows"] == [{"account": "alice", "amount": (6400 - 21400) * M}]
    assert v.cash("alice") == 0
    assert (v.e.deposits, v.e.withdrawals, v.e.treasury_in) == (15000 * M, 21400 * M, 6400 * M)
    # nothing can leave twice, and the refund stays paid (at most once survives the rollback)
    assert rejected_code(led.see(v.withdraw("alice", "15000"))) == "insufficient_margin"
    assert rejected_code(led.see(v.op("credit", account="alice", amount="6400", refund_id="r-1",
                                      fund="treasury"))) == "already_paid"
    assert led.out <= led.into and (led.into, led.out) == (21400 * M, 21400 * M)
    assert money_conserved(v.e) == [] and run_checks(v.e) == []


def test_a_refund_from_the_insurance_fund_is_not_paid_twice_by_the_fund(bare):
    v, led = bare, Ledger()
    led.see(v.op("fund_insurance", amount="10000"))
    led.see(v.deposit("bob", "100"))
    sid = _snap(v)
    led.see(v.op("credit", account="bob", amount="3000", refund_id="r-2", fund="insurance"))
    led.see(v.withdraw("bob", "3100"))
    led.see(v.op("fund_insurance", amount="500"))  # a treasury top-up after the snapshot is kept too
    evs = led.see(v.op("rollback", snapshot_id=sid))
    # the fund is the snapshot's 10,000, less the refund it paid since, plus the top-up: 7,500
    assert v.e.insurance_fund == 7500 * M
    assert one(evs, "insurance_fund")["reason"] == "rollback_edge_flows"
    assert v.cash("bob") == 0
    assert rejected_code(v.op("credit", account="bob", amount="3000", refund_id="r-2", fund="insurance")) \
        == "already_paid"
    assert led.out <= led.into and run_checks(v.e) == []


def test_an_account_opened_after_the_snapshot_keeps_its_deposit(bare):
    v = bare
    v.deposit("alice", "100")
    sid = _snap(v)
    v.deposit("carol", "500")
    v.op("rollback", snapshot_id=sid)
    assert v.cash("carol") == 500 * M and v.e.accounts["carol"].flow == 500 * M
    assert run_checks(v.e) == []


def _profit_then_withdraw(v: Venue) -> str:
    """alice makes ~2,900 USDC on BTC after the snapshot and withdraws everything she has."""
    for a in ("alice", "bob", "carol"):
        v.deposit(a, "100000")
    v.no_breaker()
    sid = _snap(v)
    v.open_position("alice", "bob", "1", price="97000")
    v.shock("100000")
    v.limit("carol", "buy", "1", "100000")
    assert of_type(v.limit("alice", "sell", "1", "100000"), "trade")
    assert v.pos("alice") == 0
    v.withdraw("alice", str(v.cash("alice") // M))
    return sid


def test_rewound_profit_that_was_withdrawn_is_bad_debt_the_fund_covers_or_the_rollback_is_refused(bare):
    v = bare
    sid = _profit_then_withdraw(v)
    before = v.hash()
    evs = v.op("rollback", snapshot_id=sid)
    assert rejected_code(evs) == "rollback_uncovered" and "alice" in evs[0]["message"]
    assert v.hash() == before  # refused: nothing changed
    p = preview(v.e, sid, [])
    assert p["refused"]["code"] == "rollback_uncovered"
    v.op("fund_insurance", amount="5000")
    p = preview(v.e, sid, [])
    assert p["refused"] is None
    alice = next(r for r in p["accounts"] if r["account"] == "alice")
    debt = alice["bad_debt_covered"]
    assert 2000 * M < debt < 3000 * M and alice["edge_flow_reapplied"] < -100000 * M
    assert alice["collateral_after"] == 0
    evs = v.op("rollback", snapshot_id=sid)
    assert one(evs, "edge_flows_reapplied")["bad_debt"] == [{"account": "alice", "amount": debt}]
    assert v.cash("alice") == 0 and v.e.insurance_fund == 5000 * M - debt == p["totals"]["insurance_fund_after"]
    assert v.e.withdrawals <= v.e.deposits + v.e.treasury_in
    assert run_checks(v.e) == []


def test_the_preview_lists_the_reapplied_flows_per_account(bare):
    v = bare
    v.deposit("alice", "15000")
    v.deposit("bob", "1000")
    sid = _snap(v)
    v.op("credit", account="alice", amount="6400", refund_id="r-1", fund="treasury")
    v.withdraw("alice", "21400")
    v.deposit("dave", "700")
    p = preview(v.e, sid, [])
    rows = {r["account"]: r for r in p["accounts"]}
    assert set(rows) == {"alice", "dave"}  # bob: nothing crossed his edge, nothing else changed
    assert rows["alice"]["edge_flow_reapplied"] == -15000 * M and rows["alice"]["collateral_after"] == 0
    assert rows["dave"]["edge_flow_reapplied"] == 700 * M and rows["dave"]["collateral_after"] == 700 * M
    assert p["totals"]["edge_flows_reapplied"] == -14300 * M and p["refused"] is None


def test_money_out_never_exceeds_money_in_across_repeated_rollbacks(bare):
    v, led = bare, Ledger()
    led.see(v.deposit("alice", "1000"))
    s1 = _snap(v)
    led.see(v.withdraw("alice", "400"))
    s2 = _snap(v)
    led.see(v.deposit("alice", "50"))
    led.see(v.withdraw("alice", "300"))
    for sid in (s1, s2, s1, s2):
        led.see(v.op("rollback", snapshot_id=sid))
        assert v.cash("alice") == 350 * M  # 1000 - 400 + 50 - 300, whichever snapshot
        left = led.see(v.withdraw("alice", "1"))
        assert one(left, "withdrawn")
        led.see(v.deposit("alice", "1"))
        assert led.out <= led.into and money_conserved(v.e) == []
    assert rejected_code(led.see(v.withdraw("alice", "351"))) == "insufficient_margin"
    assert v.e.markets[BTC].long_oi == 0


def test_a_version_2_snapshot_is_refused_when_money_crossed_the_edge_after_it(bare):
    """A version-2 snapshot records no per-account flows: rolling back to it is exact only if no money
    crossed the edge since; otherwise refused (snapshot_predates_flows), nothing changed."""
    import orjson

    from engine.core import snapshot

    v = bare
    v.deposit("alice", "100")
    sid = _snap(v)
    snap = v.e.snapshots[sid]
    state = orjson.loads(snap.data)  # the same state in the version-2 layout
    state["version"] = 2
    state["markets"] = [row[:28] for row in state["markets"]]
    state["accounts"] = {n: rec[:2] for n, rec in state["accounts"].items()}
    del state["fund_in"], state["fund_paid"]
    data = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
    v.e.snapshots[sid] = snapshot.Snapshot(sid, snap.seq, snap.ts, snap.label, snap.trigger,
                                           snapshot.hash_bytes(data), data)
    v.limit("alice", "buy", "0.001", "90000")  # no money crosses the edge: the rollback is exact
    assert one(v.op("rollback", snapshot_id=sid), "rolled_back") and not v.e.orders
    v.withdraw("alice", "10")
    before = v.hash()
    evs = v.op("rollback", snapshot_id=sid)
    assert rejected_code(evs) == "snapshot_predates_flows" and v.hash() == before
