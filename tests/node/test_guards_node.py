"""Guard rails through the node: who may switch them off or override the reopen gate, the audit
trail of both, the guard_status read, and recovery of guard state from the journal."""

from __future__ import annotations

from engine.node.node import Node
from engine.node.roles import SYSTEM, Actor
from tests.kit import ADMIN, APPROVER, OPERATOR


def _break_a_check(node: Node) -> None:
    # a bookkeeping bug the checks must see (nothing a command can do)
    with node._lock:
        node.engine.accounts["carol"].cash += 1


def test_override_of_the_reopen_gate_needs_an_approver(node):
    assert node.call({"type": "set_market_mode", "market": "BTC-USD-PERP", "mode": "cancel_only", "ts": 10},
                     actor=OPERATOR).ok
    _break_a_check(node)
    res = node.call({"type": "set_market_mode", "market": "BTC-USD-PERP", "mode": "open", "ts": 11}, actor=OPERATOR)
    assert (res.ok, res.code) == (False, "validation_failed")
    seq = node.engine.seq
    res = node.call({"type": "set_market_mode", "market": "BTC-USD-PERP", "mode": "open", "override": True,
                     "reason": "just open it", "ts": 12}, actor=OPERATOR)
    assert (res.ok, res.code) == (False, "forbidden")
    assert "override gate" in res.message
    assert node.engine.seq == seq  # refused before the journal
    res = node.call({"type": "set_market_mode", "market": "BTC-USD-PERP", "mode": "open", "override": True,
                     "reason": "1 micro-USDC found on carol, reconciled with finance", "ts": 13}, actor=APPROVER)
    assert res.ok and [e["type"] for e in res.events] == ["validation_overridden", "market_mode"]
    audit = node.audit()
    refused = [a for a in audit if a["outcome"].startswith("refused")]
    assert [(a["operator"], a["action"]) for a in refused] == [("olga", "set_market_mode")]
    last = audit[-1]
    assert (last["operator"], last["action"], last["outcome"]) == ("april", "set_market_mode", "ok")
    assert last["command"]["override"] is True and "reconciled" in last["reason"]
    assert node.store.verify_chains() == []


def test_release_brake_override_is_approver_or_admin(node):
    assert node.call({"type": "emergency_brake", "reason": "drill", "ts": 10}, actor=OPERATOR).ok
    _break_a_check(node)
    res = node.call({"type": "release_brake", "override": True, "reason": "x", "ts": 11}, actor=OPERATOR)
    assert res.code == "forbidden"
    res = node.call({"type": "release_brake", "reason": "drill over", "ts": 12}, actor=ADMIN)
    assert res.code == "validation_failed"
    res = node.call({"type": "release_brake", "override": True, "reason": "drill over, known 1 micro-USDC",
                     "ts": 13}, actor=ADMIN)
    assert res.ok and any(e["type"] == "brake_released" and e["override"] for e in res.events)


def test_turning_safeguards_off_needs_an_approver_and_on_an_operator(node):
    res = node.call({"type": "set_safeguards", "enabled": False, "reason": "noisy", "ts": 10}, actor=OPERATOR)
    assert (res.ok, res.code) == (False, "forbidden") and "disable safeguards" in res.message
    assert node.guard_status()["safeguards"] is True
    res = node.call({"type": "set_safeguards", "enabled": False, "reason": "feed migration drill", "ts": 11},
                    actor=APPROVER)
    assert res.ok and res.events[0] == {"type": "safeguards_set", "enabled": False, "operator": "april",
                                        "reason": "feed migration drill", "seq": res.seq}
    assert node.guard_status()["safeguards"] is False
    assert node.status()["safeguards"] is False
    res = node.call({"type": "set_safeguards", "enabled": True, "reason": "drill over", "ts": 12}, actor=OPERATOR)
    assert res.ok and node.guard_status()["safeguards"] is True
    assert node.call({"type": "set_market_params", "market": "ETH-USD-PERP", "breaker_accounts": 50,
                      "reason": "thin book", "ts": 13}, actor=OPERATOR).ok
    assert node.call({"type": "set_market_params", "market": "ETH-USD-PERP", "breaker_accounts": 60,
                      "ts": 14}, actor=Actor("vic", "viewer")).code == "forbidden"


def test_guard_status_and_recovery_of_guard_state(db_url, node):
    res = node.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "80000", "source": "binance",
                     "ts": 20}, actor=SYSTEM)
    assert res.ok and [e["type"] for e in res.events] == ["oracle_rejected", "market_flagged"]
    res = node.call({"type": "load_market_state", "market": "ETH-USD-PERP", "mark_price": "0",
                     "funding_index": "0", "source": "db-restart", "ts": 21}, actor=SYSTEM)
    assert [e["type"] for e in res.events] == ["market_data_quarantined"]
    st = node.guard_status()
    btc = st["markets"]["BTC-USD-PERP"]
    assert btc["flags"].keys() == {"oracle_rejected"} and btc["pending_oracle"]["price"] == 80_000_000_000
    assert st["quarantined"] == 1 and st["markets"]["ETH-USD-PERP"]["quarantined"] == 1
    h = node.engine.state_hash()
    node.close()
    again = Node.open(db_url, actor=ADMIN)
    try:
        assert again.engine.state_hash() == h
        assert again.guard_status() == st
        # the pending jump is confirmed by a second source after the restart
        res = again.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "80010", "source": "okx",
                          "ts": 22}, actor=SYSTEM)
        assert res.ok and any(e.get("confirmed_by") == "okx" for e in res.events)
    finally:
        again.close()


def test_accepting_an_oracle_price_by_hand_needs_an_approver_and_is_audited(node):
    res = node.call({"type": "oracle_price", "market": "BTC-USD-PERP", "price": "89240", "source": "pyth", "ts": 10}, actor=SYSTEM)
    assert [e["type"] for e in res.events][:1] == ["oracle_rejected"]
    cmd = {"type": "accept_oracle_price", "market": "BTC-USD-PERP", "price": "89240",
           "reason": "BTC fell 8% everywhere", "ts": 11}
    for who in (Actor("vic", "viewer"), OPERATOR):
        res = node.call(dict(cmd), actor=who)
        assert (res.ok, res.code) == (False, "forbidden")
    res = node.call(dict(cmd), actor=APPROVER)
    assert res.ok
    ev = next(e for e in res.events if e["type"] == "oracle_jump_accepted")
    assert (ev["reason"], ev["operator"], ev["refused_count"]) == ("manual", "april", 1)
    audit = node.audit()
    assert [(a["operator"], a["outcome"].split(":")[0]) for a in audit if a["action"] == "accept_oracle_price"] == [
        ("vic", "refused"), ("olga", "refused"), ("april", "ok")]
    assert node.store.verify_chains() == []
