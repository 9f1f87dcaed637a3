"""Computed refunds through the node: counterfactual and reference price, maker-checker, funds, CSV."""

from __future__ import annotations

import io

import orjson
import pytest

from console.cli import main as cli_main
from engine.core.checks import run_checks
from engine.core.markets import default_market_commands
from engine.node.node import Node, NodeError
from engine.node.roles import SYSTEM, SYSTEM_ONLY, Actor
from engine.tools.refunds_export import CSV_COLUMNS, read_csv
from tests.kit import ADMIN, APPROVER, APPROVER2, VIEWER

OPERATOR = Actor("otto", "operator")
BTC = "BTC-USD-PERP"


def incident(node: Node, insurance: str = "100000") -> dict:
    """The hand-checked case of tests/engine/test_counterfactual.py, through the node.

    alice (3000 USDC) long 1 BTC and carol (3800) long 0.5 at 97000 from bob; mm bids 2 at 89500; a
    snapshot; a bad load_market_state (mark 90000) liquidates alice (all, taken over by the insurance fund
    at her bankruptcy price 94000, the fund paying the 4500 gap to mm's bid) and carol (all 0.5 BTC on
    the bid: no partial step makes her healthier after its fee; fee capped at her last 50); the oracle
    says 97000 again."""
    def call(cmd, actor=None):  # user commands and market data come from the venue itself (SYSTEM)
        res = node.call(cmd, actor=actor or (SYSTEM if cmd["type"] in SYSTEM_ONLY else ADMIN))
        assert res.ok, res
        return res

    for c in default_market_commands(1):
        call(c)
    call({"type": "set_safeguards", "enabled": False, "ts": 1,
          "reason": "the incident as it happened: a venue without guard rails"})
    call({"type": "fund_insurance", "amount": insurance, "ts": 1})
    for name, amt in (("alice", "3000"), ("carol", "3800"), ("bob", "100000"), ("mm", "1000000")):
        call({"type": "deposit", "account": name, "amount": amt, "ts": 2})
    for acct, side, size, price in (("alice", "buy", "1", "97000"), ("carol", "buy", "0.5", "97000"),
                                    ("bob", "sell", "1.5", "97000"), ("mm", "buy", "2", "89500")):
        call({"type": "place_order", "account": acct, "market": BTC, "side": side, "size": size, "price": price,
              "ts": 3})
    snap = call({"type": "take_snapshot", "label": "before the incident", "ts": 4})
    bad = call({"type": "load_market_state", "market": BTC, "mark_price": "90000", "funding_index": "0",
                "source": "db-restart", "ts": 5_000})
    assert [e["account"] for e in bad.events if e["type"] == "liquidation"] == ["alice", "carol"]
    fix = call({"type": "oracle_price", "market": BTC, "price": "97000", "ts": 6_000})
    sid = next(e["snapshot_id"] for e in snap.events if e["type"] == "snapshot_taken")
    return {"sid": sid, "snap_seq": snap.seq, "bad": bad.seq, "fix": fix.seq, "fix_ts": 6_000}


@pytest.fixture
def venue(db_url):
    n = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    info = incident(n)
    yield n, info
    n.close()


def amounts(report) -> list[tuple[str, int]]:
    return [(p["account"], p["amount"]) for p in report["proposals"]]


def test_hand_checked_case_through_the_node_and_suspects(venue):
    node, s = venue
    # the guard-rail-style scan finds the bad mark (90000 is beyond 5% of the 97000 index)
    suspects = node.suspect_inputs(s["snap_seq"], s["fix"])
    assert [x["seq"] for x in suspects] == [s["bad"]] and "outside the price band" in suspects[0]["reasons"][0]
    report = node.compute_refunds(s["sid"], s["fix"], [x["seq"] for x in suspects])
    # alice: V_cf 3000 (long 1 at 97000, valued at the reference 97000) - V_act 0 = 3000.000000
    # carol: V_cf 3800 - V_act (closed in full, cash 0) = 3800.000000
    assert amounts(report) == [("alice", 3_000_000_000), ("carol", 3_800_000_000)]
    assert report["total"] == 6_800_000_000 and report["method"] == "counterfactual"
    assert report["inputs"]["snapshot_id"] == s["sid"] and report["inputs"]["to_seq"] == s["fix"]
    # determinism: computing again gives the very same report
    assert node.compute_refunds(s["sid"], s["fix"], [s["bad"]]) == report


def test_compute_is_viewer_safe_but_proposing_needs_the_role(db_url):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    try:
        s = incident(node)
        node.actor = VIEWER
        report = node.compute_refunds(s["sid"], s["fix"], [s["bad"]])
        assert amounts(report)[0] == ("alice", 3_000_000_000)
        with pytest.raises(NodeError) as e:
            node.propose_refunds(report, "bad mark")
        assert e.value.code == "forbidden"
        assert node.refunds() == []
    finally:
        node.close()


def test_propose_recompute_and_the_report_is_checked(venue):
    node, s = venue
    report = node.compute_refunds(s["sid"], s["fix"], [s["bad"]])
    with pytest.raises(NodeError) as e:
        node.propose_refunds(report, "  ", actor=OPERATOR)
    assert e.value.code == "missing_reason"
    forged = orjson.loads(orjson.dumps(report))
    forged["proposals"][0]["amount"] += 1_000_000
    with pytest.raises(NodeError) as e:
        node.propose_refunds(forged, "bad mark at seq 11", actor=OPERATOR)
    assert e.value.code == "report_mismatch"
    recs = node.propose_refunds(report, "liquidated on a bad restored mark", actor=OPERATOR)
    assert [(r["account"], r["amount"], r["status"], r["proposer"]) for r in recs] == [
        ("alice", 3_000_000_000, "proposed", "otto"), ("carol", 3_800_000_000, "proposed", "otto")]
    stored = node.store.get_refund(recs[1]["refund_id"])
    assert stored["evidence"]["method"] == "counterfactual"
    assert stored["evidence"]["inputs"] == report["inputs"]
    assert stored["evidence"]["liquidations"][0]["fee"] == "50"
    for r in recs:
        again = node.recompute_refund(r["refund_id"])
        assert again["matches"] and again["recomputed_amount"] == r["amount"] == again["stored_amount"]
    # the same incident cannot be proposed twice while the first proposals stand
    with pytest.raises(NodeError) as e:
        node.propose_refunds(report, "again", actor=OPERATOR)
    assert e.value.code == "already_proposed"
    manual = node.propose_refund("bob", "1", "goodwill", actor=OPERATOR)
    with pytest.raises(NodeError) as e:
        node.recompute_refund(manual["refund_id"])
    assert e.value.code == "not_computed"


def test_maker_checker_pay_once_and_conservation(venue):
    node, s = venue
    recs = node.propose_refunds(node.compute_refunds(s["sid"], s["fix"], [s["bad"]]), "bad mark", actor=APPROVER)
    alice, carol = (r["refund_id"] for r in recs)
    with pytest.raises(NodeError) as e:  # the proposer's own approval is refused
        node.decide_refund(alice, True, "I checked it myself", actor=APPROVER)
    assert e.value.code == "self_approval"
    with pytest.raises(NodeError) as e:
        node.decide_refund(alice, True, "", actor=APPROVER2)
    assert e.value.code == "missing_reason"
    assert node.decide_refund(alice, True, "counterfactual recomputed", actor=APPROVER2)["fund"] == "insurance"
    assert node.decide_refund(carol, True, "counterfactual recomputed", actor=APPROVER2, fund="treasury")["fund"] == "treasury"
    before = {n: node.account(n)["cash"] for n in ("alice", "carol")}
    fund_before = node.status()["insurance_fund"]
    with pytest.raises(NodeError) as e:  # approved from the treasury: paying it from the fund is refused
        node.pay_refund(carol, "insurance", actor=APPROVER2)
    assert e.value.code == "fund_mismatch"
    assert node.pay_refund(alice, actor=APPROVER2).ok
    assert node.pay_refund(carol, actor=APPROVER2).ok
    assert node.account("alice")["cash"] == before["alice"] + 3_000_000_000
    assert node.account("carol")["cash"] == before["carol"] + 3_800_000_000
    assert node.status()["insurance_fund"] == fund_before - 3_000_000_000
    assert node.engine.treasury_in == 100_000_000_000 + 3_800_000_000  # fund_insurance + the treasury credit
    # paying twice is refused, by the node and by the engine
    with pytest.raises(NodeError) as e:
        node.pay_refund(alice, actor=APPROVER2)
    assert e.value.code == "already_paid"  # (was not_approved: a paid refund now says so, with its seq)
    again = node.call({"type": "credit", "account": "alice", "amount": "3000", "refund_id": alice,
                       "fund": "insurance", "reason": "again"}, actor=APPROVER2)
    assert (again.ok, again.code) == (False, "forbidden")  # a raw credit: never from an operator
    again = node._submit({"type": "credit", "account": "alice", "amount": "3000", "refund_id": alice,
                          "fund": "insurance", "reason": "again"}, SYSTEM, APPROVER2).result(10)
    assert (again.ok, again.code) == (False, "already_paid")  # the desk itself: the record says paid
    assert node.account("alice")["cash"] == before["alice"] + 3_000_000_000
    # conservation holds through the refunds: every validation check passes
    assert node.checks() == [] and run_checks(node.engine) == []
    assert [r["status"] for r in node.refunds()] == ["paid", "paid"]


def test_refunds_never_exceed_the_insurance_fund(db_url):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    try:
        s = incident(node, insurance="9000")
        # 9000 - alice's bad debt 4500 + carol's fee 50 = 4550 USDC left in the fund
        assert node.status()["insurance_fund"] == 4_550_000_000
        alice, carol = (r["refund_id"] for r in node.propose_refunds(
            node.compute_refunds(s["sid"], s["fix"], [s["bad"]]), "bad mark", actor=OPERATOR))
        node.decide_refund(alice, True, "ok", actor=APPROVER)  # 3000 <= 4550
        with pytest.raises(NodeError) as e:  # 3000 already committed + 3800 > 4550
            node.decide_refund(carol, True, "ok", actor=APPROVER)
        assert e.value.code == "insufficient_fund" and "cannot also cover 3800" in e.value.message
        assert node.store.get_refund(carol)["status"] == "proposed"
        # the payment is checked again by the engine: the fund shrank meanwhile (another desk's approved
        # refund, written straight to the store: a race the approval's check cannot see)
        node.store.create_refund({"refund_id": "goodwill-1", "account": "bob", "amount": 2_000_000_000,
                                  "reason": "goodwill", "proposer": "olga", "status": "approved",
                                  "approver": "april", "fund": "insurance"})
        assert node.pay_refund("goodwill-1", actor=APPROVER).ok
        res = node.pay_refund(alice, actor=APPROVER)
        assert (res.ok, res.code) == (False, "insufficient_fund")
        assert node.store.get_refund(alice)["status"] == "approved"
        assert node.status()["insurance_fund"] == 2_550_000_000
        # the treasury always covers, and is recorded as money in
        node.decide_refund(carol, True, "from the treasury", actor=APPROVER, fund="treasury")
        assert node.pay_refund(carol, actor=APPROVER).ok
        assert node.checks() == []
    finally:
        node.close()


def test_reference_price_refunds_through_the_node(venue):
    node, s = venue
    with pytest.raises(NodeError) as e:  # nothing journaled after the reference time yet: not settled
        node.reference_refunds(s["snap_seq"], s["fix"], s["fix_ts"])
    assert e.value.code == "reference_in_future"
    assert node.call({"type": "tick", "ts": 60_000}, actor=SYSTEM).ok  # the venue moves on past the reference time
    report = node.reference_refunds(s["snap_seq"], s["fix"], s["fix_ts"])
    # alice was closed at her bankruptcy price 94000, carol sold at 89500; reference index 97000 at ts 6000:
    # alice (97000 - 94000) x 1 = 3000; carol (97000 - 89500) x 0.5 = 3750
    assert amounts(report) == [("alice", 3_000_000_000), ("carol", 3_750_000_000)]
    assert report["method"] == "reference_price" and report["reference_prices"][BTC]["index_price"] == "97000"
    assert amounts(node.reference_refunds(s["snap_seq"], s["fix"], s["fix_ts"], market="ETH-USD-PERP")) == []
    recs = node.propose_refunds(report, "reference price at 00:00", actor=OPERATOR)
    assert all(node.recompute_refund(r["refund_id"])["matches"] for r in recs)
    with pytest.raises(NodeError) as e:
        node.reference_refunds(s["snap_seq"], s["fix"], 10)
    assert e.value.code == "bad_reference_ts"


def test_rolled_back_rows_are_what_happened(venue):
    node, s = venue
    res = node.call({"type": "rollback", "snapshot_id": s["sid"], "reason": "bad mark", "ts": 7_000},
                    actor=APPROVER)
    assert res.ok
    assert [r.rolled_back for r in node.store.iter_journal(after_seq=s["snap_seq"], upto_seq=s["fix"])] == [True, True]
    # the window is read as executed: the rolled-back liquidations still count (a venue that rolled back
    # has nothing to pay; the figure shows what the rollback undid)
    report = node.compute_refunds(s["sid"], s["fix"], [s["bad"]])
    assert amounts(report) == [("alice", 3_000_000_000), ("carol", 3_800_000_000)]
    # a window that crosses the rollback replays it in both runs: they converge, nobody is owed anything
    assert node.compute_refunds(s["sid"], res.seq, [s["bad"]])["proposals"] == []


def test_in_memory_node_computes_the_same(venue):
    stored, s = venue
    mem = Node(actor=ADMIN)
    t = incident(mem)
    assert t["bad"] == s["bad"]
    a = mem.compute_refunds(t["sid"], t["fix"], [t["bad"]])
    b = stored.compute_refunds(s["sid"], s["fix"], [s["bad"]])
    assert a["proposals"] == b["proposals"] and a["inputs"] == b["inputs"]


def test_bad_requests_are_clear_errors(venue):
    node, s = venue
    for args, code in (((s["sid"], "x", [s["bad"]]), "bad_value"),
                       (("snap-nope", s["fix"], [s["bad"]]), "unknown_snapshot"),
                       ((s["sid"], s["fix"], []), "no_bad_inputs"),
                       ((s["sid"], s["fix"] + 50, [s["bad"]]), "bad_window"),
                       ((s["sid"], s["fix"], [1]), "bad_seq")):
        with pytest.raises(NodeError) as e:
            node.compute_refunds(*args)
        assert e.value.code == code, args


def test_csv_export_round_trip_and_cli(venue, db_url, tmp_path, capsys):
    node, s = venue
    recs = node.propose_refunds(node.compute_refunds(s["sid"], s["fix"], [s["bad"]]), "bad, \"quoted\" mark",
                                actor=OPERATOR)
    node.decide_refund(recs[0]["refund_id"], True, "ok", actor=APPROVER)
    node.pay_refund(recs[0]["refund_id"], actor=APPROVER)
    node.propose_refund("bob", "12.5", "goodwill\nsecond line", actor=OPERATOR)
    buf = io.StringIO(newline="")
    assert node.export_refunds_csv(buf) == 3
    rows = read_csv(buf.getvalue())
    assert tuple(rows[0]) == CSV_COLUMNS
    by_id = {r["refund_id"]: r for r in node.refunds()}
    for row in rows:
        r = by_id[row["refund_id"]]
        assert row["account"] == r["account"] and row["status"] == r["status"]
        assert row["amount"] == {3_000_000_000: "3000", 3_800_000_000: "3800", 12_500_000: "12.5"}[r["amount"]]
        assert row["reason"] == r["reason"] and row["proposer"] == "otto"
        if r["evidence"].get("inputs"):
            assert row["method"] == "counterfactual"
            assert orjson.loads(row["inputs"]) == r["evidence"]["inputs"]
        else:
            assert (row["method"], row["inputs"]) == ("manual", "")
    paid = next(r for r in rows if r["status"] == "paid")
    assert paid["fund"] == "insurance" and int(paid["paid_seq"]) > s["fix"] and paid["approver"] == "april"
    # the file export and the CLI give the same bytes
    path = tmp_path / "refunds.csv"
    node.export_refunds_csv(path)
    assert path.read_text() == buf.getvalue()
    out = tmp_path / "cli.csv"
    assert cli_main(["refunds", "export", "--db", db_url, "--out", str(out)]) == 0
    assert out.read_text() == buf.getvalue()
    assert cli_main(["refunds", "export", "--db", db_url]) == 0
    assert capsys.readouterr().out == buf.getvalue()
    assert cli_main(["refunds", "export", "--db", str(tmp_path / "missing.db")]) == 2
