"""Counterfactual refunds, hand-checked to the micro-USDC (engine/analysis/counterfactual.py)."""

from __future__ import annotations

import pytest
from engine_helpers import BTC, Venue, of_type

from engine.analysis import counterfactual as cf


def _incident(v: Venue | None = None, bad_mark: str = "90000") -> tuple[Venue, object, dict]:
    """BTC at 97000. alice (3000 USDC) is long 1 BTC and carol (3800 USDC) long 0.5, both bought from bob;
    mm bids 2 BTC at 89500. Then a bad ``load_market_state`` puts the mark at ``bad_mark``; the oracle
    then says 97000 again. Returns the venue, the snapshot before the incident and the seqs."""
    v = v or Venue.default(accounts=())
    v.op("set_safeguards", enabled=False)  # the incident as it happened: a venue without guard rails
    v.op("fund_insurance", amount="100000")
    for name, amt in (("alice", "3000"), ("carol", "3800"), ("bob", "100000"), ("mm", "1000000")):
        v.deposit(name, amt)
    v.limit("alice", "buy", "1", "97000")
    v.limit("carol", "buy", "0.5", "97000")
    assert len(of_type(v.limit("bob", "sell", "1.5", "97000"), "trade")) == 2
    v.limit("mm", "buy", "2", "89500")
    v.op("take_snapshot", label="before the incident")
    snap = v.e.snapshots[f"snap-{v.e.seq}"]
    v.ts += 1000
    bad = v.cmd("load_market_state", market=BTC, mark_price=bad_mark, funding_index="0", source="db-restart")
    bad_seq = v.e.seq
    v.ts += 1000
    v.oracle("97000")
    fix_seq = v.e.seq
    return v, snap, {"bad": bad_seq, "fix": fix_seq, "bad_events": bad}


def rows_of(v: Venue) -> list[tuple[dict, None]]:
    return [({**c, "seq": i}, None) for i, c in enumerate(v.journal, 1)]


def test_counterfactual_refunds_match_the_hand_computed_case():
    v, snap, s = _incident()
    liqs = of_type(s["bad_events"], "liquidation")
    # the bad mark of 90000 liquidates alice (value 3000 - 7000 = -4000: all of it; her bankruptcy price
    # is 94000, above mm's bid at 89500, so the insurance fund takes her over at 94000 and sells on the
    # bid, paying the 4500 gap) and carol (value 3800 - 0.5 x 7000 = 300 < maintenance 450; at that
    # ratio (0.67) a partial step's 0.7% fee costs more than the maintenance it frees, so no partial
    # step makes her healthier: all of it, on mm's bid at 89500, above her bankruptcy price 89400)
    assert [(e["account"], e["size"], e["price"], e["by"]) for e in liqs] == [
        ("alice", 100_000_000, 94_000_000_000, "insurance"), ("carol", 50_000_000, 89_500_000_000, "book")]
    report = cf.compute(snap, rows_of(v), s["fix"], [s["bad"]])
    # Reference marks: the counterfactual's end state, BTC mark 97000 (the oracle), funding index 0.
    # alice, counterfactual: cash 3000 - 97000 = -94000, +1 BTC x 97000            -> V_cf = 3000
    #        actual: closed at her bankruptcy price 94000 (the fund paid the 4500 gap to the bid)
    #                -> cash 0, no position                                       -> V_act = 0
    #        refund = 3000 - 0 = 3000.000000 USDC
    # carol, counterfactual: cash 3800 - 48500 = -44700, +0.5 x 97000              -> V_cf = 3800
    #        actual: sold 0.5 @ 89500 = 44750 -> cash 50; the 0.7% fee (313.25) is capped at
    #                her value (50) -> cash 0, no position                         -> V_act = 0
    #        refund = 3800 - 0 = 3800.000000 USDC
    # mm bought 1.5 BTC at 89500 (worth 97000): it gained, no refund; bob is unchanged.
    assert [(p["account"], p["amount"]) for p in report["proposals"]] == [
        ("alice", 3_000_000_000), ("carol", 3_800_000_000)]
    assert report["total"] == 6_800_000_000
    assert report["summary"]["gained_by_others"] == 1_500_000 * 7500  # mm: 1.5 x (97000 - 89500)
    assert report["summary"]["actual_state_hash"] == v.hash()  # the actual run reproduces the journal
    ev = {p["account"]: p["evidence"] for p in report["proposals"]}
    assert ev["alice"]["liquidations"] == [{"seq": s["bad"], "market": BTC, "side": "sell", "size": "1",
                                            "price": "94000", "mark_price": "90000", "fee": "0",
                                            "bad_debt": "4500"}]
    assert ev["carol"]["liquidations"][0]["fee"] == "50"
    assert ev["carol"]["fills"] == [{"seq": s["bad"], "market": BTC, "side": "sell", "role": "taker",
                                     "size": "0.5", "price": "89500", "fee": "0", "counterparty": "mm"}]
    assert ev["carol"]["counterfactual_liquidations"] == []
    assert ev["carol"]["reference_prices"] == {BTC: {"mark_price": "97000", "funding_index": "0"}}
    assert ev["carol"]["actual"]["value"] == "0" and ev["carol"]["counterfactual"]["value"] == "3800"
    assert ev["alice"]["inputs"] == report["inputs"]
    assert report["inputs"]["bad_seqs"] == [s["bad"]] and report["inputs"]["snapshot_state_hash"] == snap.state_hash
    assert ev["alice"]["bad_inputs"][0]["command"]["mark_price"] == "90000"
    assert "max(0, V_counterfactual - V_actual)" in ev["alice"]["formula"]


def test_a_correction_instead_of_dropping_and_determinism():
    v, snap, s = _incident()
    rows = rows_of(v)
    dropped = cf.compute(snap, rows, s["fix"], [s["bad"]])
    corrected = cf.compute(snap, rows, s["fix"], [], {str(s["bad"]): {"mark_price": "97000"}})
    assert [(p["account"], p["amount"]) for p in corrected["proposals"]] == [
        ("alice", 3_000_000_000), ("carol", 3_800_000_000)]
    assert corrected["inputs"]["corrections"] == {str(s["bad"]): {"mark_price": "97000"}}
    assert corrected["bad_inputs"][0]["correction"]["mark_price"] == "97000"
    # a correction within the band still liquidates alice (value 3000 - 4000 < 0) but spares carol
    mild = cf.compute(snap, rows, s["fix"], [s["bad"]], {s["bad"]: {"mark_price": "93000"}})
    assert [p["account"] for p in mild["proposals"]] == ["carol"]
    # same inputs, same numbers, byte for byte
    assert cf.compute(snap, rows, s["fix"], [s["bad"]]) == dropped
    import orjson
    assert orjson.dumps(dropped, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        cf.compute(snap, list(rows), s["fix"], [s["bad"]]), option=orjson.OPT_SORT_KEYS)


def test_the_reference_price_method_by_hand():
    v, snap, s = _incident()
    rows = rows_of(v)
    ref_ts = v.ts  # the oracle's 97000
    report = cf.reference_price(snap, rows, snap.seq, s["fix"], ref_ts)
    # both were longs liquidated by selling, alice at her bankruptcy price 94000 (the fund sold on the bid),
    # carol at 89500; reference index 97000: alice (97000 - 94000) x 1 = 3000; carol (97000 - 89500) x 0.5 = 3750
    assert [(p["account"], p["amount"]) for p in report["proposals"]] == [
        ("alice", 3_000_000_000), ("carol", 3_750_000_000)]
    assert report["reference_prices"] == {BTC: {"index_price": "97000", "oracle_seq": s["fix"]}}
    liq = report["proposals"][1]["evidence"]["liquidations"][0]
    assert (liq["reference_price"], liq["price"], liq["size"], liq["refund"]) == ("97000", "89500", "0.5", "3750")
    # a reference time before the window's end is refused: the reference must come later
    with pytest.raises(cf.CounterfactualError) as e:
        cf.reference_price(snap, rows, snap.seq, s["fix"], ref_ts - 1)
    assert e.value.code == "bad_reference_ts"


def test_reference_price_for_a_short_uses_the_opposite_sign():
    v = Venue.default(accounts=())
    v.op("set_safeguards", enabled=False)  # the incident as it happened: a venue without guard rails
    v.op("fund_insurance", amount="100000")
    for name, amt in (("sam", "3000"), ("bob", "100000"), ("mm", "1000000")):
        v.deposit(name, amt)
    v.limit("sam", "sell", "1", "97000")
    v.limit("bob", "buy", "1", "97000")
    v.limit("mm", "sell", "2", "101000")
    v.op("take_snapshot", label="before")
    snap = v.e.snapshots[f"snap-{v.e.seq}"]
    v.ts += 1000
    evs = v.cmd("load_market_state", market=BTC, mark_price="104000", funding_index="0", source="db-restart")
    bad = v.e.seq
    (liq,) = of_type(evs, "liquidation")
    # sam is short 1 at 97000 with 3000: at 104000 value is -4000, bankruptcy price 100000 -> the fund takes
    # him over at 100000 and buys 1 at mm's 101000 (paying the 1000 gap)
    assert (liq["account"], liq["side"], liq["size"], liq["price"]) == ("sam", "buy", 100_000_000, 100_000_000_000)
    v.ts += 60_000
    v.oracle("98000")
    ref_seq = v.e.seq
    report = cf.reference_price(snap, rows_of(v), snap.seq, bad, v.ts)
    # short: (liquidation price - reference) x size = (100000 - 98000) x 1 = 2000
    assert [(p["account"], p["amount"]) for p in report["proposals"]] == [("sam", 2_000_000_000)]
    assert report["proposals"][0]["evidence"]["liquidations"][0]["side"] == "buy"
    # the counterfactual method on the same incident, to the oracle's 98000: without the bad mark sam
    # stays short 1 at 97000 (cash 3000 + 97000 = 100000); the mark is median(index 98000, no bid -> 98000,
    # ask 101000) = 98000 -> V_cf = 100000 - 98000 = 2000. Actual: bought back 1 at 101000 -> cash -1000,
    # fee capped at 0, bad debt 1000 covered by the fund -> V_act = 0. Refund 2000: the counterfactual pays
    # the equity the bad input took, the reference method the price gap.
    report = cf.compute(snap, rows_of(v), ref_seq, [bad])
    assert [(p["account"], p["amount"]) for p in report["proposals"]] == [("sam", 2_000_000_000)]
    # and a reference above the liquidation price refunds nothing: max(0, 101000 - 102000) = 0
    v.ts += 60_000
    v.oracle("102000")
    assert cf.reference_price(snap, rows_of(v), snap.seq, bad, v.ts)["proposals"] == []


def test_refused_inputs():
    v, snap, s = _incident()
    rows = rows_of(v)
    for args, code in (((s["fix"], []), "no_bad_inputs"),
                       ((s["fix"], [snap.seq]), "bad_seq"),
                       ((snap.seq, [s["bad"]]), "bad_window"),
                       ((s["fix"] + 5, [s["bad"]]), "bad_window")):
        with pytest.raises(cf.CounterfactualError) as e:
            cf.compute(snap, rows, *args)
        assert e.value.code == code
    with pytest.raises(cf.CounterfactualError) as e:
        cf.compute(snap, rows, s["fix"], [], {s["bad"]: {"type": "oracle_price"}})
    assert e.value.code == "bad_correction"
    # a journal that does not replay as recorded is refused, never used for money
    with pytest.raises(cf.CounterfactualError) as e:
        cf.compute(snap, rows, s["fix"], [s["bad"]], expect_hash="0" * 64)
    assert e.value.code == "replay_diverged"
    tampered = [(c, "rejected:unknown_market" if c["seq"] == s["bad"] else o) for c, o in rows]
    with pytest.raises(cf.CounterfactualError) as e:
        cf.compute(snap, tampered, s["fix"], [s["bad"]])
    assert e.value.code == "replay_diverged"


def test_suspects_find_the_bad_mark_and_a_zeroed_funding_index():
    v, snap, s = _incident()
    v.ts += 8 * 3600 * 1000
    v.tick(1000)  # funding accrues: the index moves off zero
    assert v.e.markets[BTC].funding_index != 0
    v.cmd("load_market_state", market=BTC, mark_price="97000", funding_index="0", source="db-restart")
    zeroed = v.e.seq
    v.oracle("130000")
    jump = v.e.seq
    found = cf.suspects(snap, rows_of(v), snap.seq, v.e.seq)
    assert [f["seq"] for f in found] == [s["bad"], zeroed, jump]
    assert "outside the price band" in found[0]["reasons"][0]
    assert "funding index zeroed" in found[1]["reasons"][0]
    assert "away from the trusted index" in found[2]["reasons"][0]
    # the good oracle price after the bad mark is not a suspect
    assert s["fix"] not in [f["seq"] for f in found]
