"""Every command kind is role-checked by the node (engine/node/roles.py, Node.submit): user commands,
market data and the clock come only from SYSTEM; operator commands and node actions by role; a credit
only from the refund desk for an approved, unpaid record; maker-checker by normalised name."""

from __future__ import annotations

import pytest

from engine.node.node import Node, NodeError
from engine.node.roles import COMMAND_KINDS, KINDS, SYSTEM, Actor, kind_of

from .conftest import ADMIN, seed_venue

BTC = "BTC-USD-PERP"
ROLES = ("viewer", "operator", "approver", "admin", "system")
RANK = {r: i for i, r in enumerate(ROLES)}

#: one command of each kind, and the least role that may send it (stated here, not read from the table)
CASES = [
    ("user", {"type": "deposit", "account": "mallory", "amount": "1000000"}, "system"),
    ("user", {"type": "withdraw", "account": "alice", "amount": "1"}, "system"),
    ("user", {"type": "place_order", "account": "alice", "market": BTC, "side": "buy", "size": "0.001",
              "price": "90000"}, "system"),
    ("user", {"type": "cancel_order", "account": "alice", "client_order_id": "x"}, "system"),
    ("user", {"type": "cancel_all", "account": "alice"}, "system"),
    ("market_data", {"type": "oracle_price", "market": BTC, "price": "97000"}, "system"),
    ("market_data", {"type": "load_market_state", "market": BTC, "mark_price": "90000", "funding_index": "0",
                     "source": "db-restart"}, "system"),
    ("clock", {"type": "tick", "ts": 31_536_000_000}, "system"),
    ("operator", {"type": "emergency_brake", "reason": "drill"}, "operator"),
    ("operator", {"type": "set_market_mode", "market": BTC, "mode": "cancel_only", "reason": "r"}, "operator"),
    ("operator", {"type": "release_brake", "reason": "drill over"}, "approver"),
    ("operator", {"type": "accept_oracle_price", "market": BTC, "reason": "checked"}, "approver"),
    ("operator", {"type": "set_safeguards", "enabled": False, "reason": "drill"}, "approver"),
    ("operator", {"type": "fund_insurance", "amount": "1", "reason": "top up"}, "admin"),
    ("operator", {"type": "create_market", "market": "NEW-USD-PERP", "reason": "listing"}, "admin"),
    ("node_action", {"type": "take_snapshot", "label": "t", "reason": "r"}, "operator"),
    ("node_action", {"type": "rollback", "snapshot_id": "nope", "reason": "r"}, "approver"),
    ("node_action", {"type": "credit", "account": "alice", "amount": "1000000", "refund_id": "r-invented",
                     "fund": "treasury", "reason": "goodwill"}, "nobody"),  # only the refund desk
]


def actor_of(role: str) -> Actor:
    return SYSTEM if role == "system" else Actor(f"{role}-1", role)


@pytest.fixture
def venue():
    node = Node(actor=ADMIN)
    seed_venue(node)
    return node


def test_every_command_type_has_a_kind():
    from engine.core.commands import ALL_COMMANDS

    assert set(ALL_COMMANDS) <= set(COMMAND_KINDS) and set(COMMAND_KINDS.values()) <= set(KINDS)
    assert {kind_of(c[1]["type"]) for c in CASES} == set(KINDS)
    assert [kind_of(c[1]["type"]) for c in CASES] == [c[0] for c in CASES]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind,cmd,need", CASES, ids=[f"{c[0]}:{c[1]['type']}" for c in CASES])
def test_each_kind_for_each_role_through_submit(venue, kind, cmd, need, role):
    before = len(venue.audit())
    res = venue.call(cmd, actor=actor_of(role))
    allowed = need != "nobody" and RANK[role] >= RANK[need]
    if allowed:
        assert res.code != "forbidden", res
    else:
        assert (res.ok, res.code) == (False, "forbidden"), res
        assert res.seq == 0  # never journaled
        rec = venue.audit()[-1]
        assert len(venue.audit()) == before + 1
        assert (rec["action"], rec["operator"], rec["outcome"][:18]) == (cmd["type"], actor_of(role).name,
                                                                          "refused: " + res.message[:9])


def test_an_actor_dressed_as_system_is_not_system(venue):
    for fake in (Actor("system", "system"), Actor("system", "admin")):
        res = venue.call({"type": "deposit", "account": "mallory", "amount": "1000000"}, actor=fake)
        assert res.code == "forbidden"
    assert venue.account("mallory") is None


def test_the_issues_viewer_attacks_through_the_nodes_own_operator():
    """A viewer console's gateway send() (Node.call without an actor: the node's operator)."""
    node = Node(actor=ADMIN)
    seed_venue(node)
    node.actor = Actor("vic", "viewer")
    head = node.engine.seq
    for cmd in ({"type": "oracle_price", "market": BTC, "price": "1"},
                {"type": "load_market_state", "market": BTC, "mark_price": "1", "funding_index": "0",
                 "source": "paradex"},
                {"type": "withdraw", "account": "alice", "amount": "5000"},
                {"type": "deposit", "account": "vic", "amount": "1000000"},
                {"type": "tick", "ts": 31_536_000_000}):
        assert node.call(cmd).code == "forbidden"
    assert node.engine.seq == head and node.account("vic") is None
    assert [r["action"] for r in node.audit()[-5:]] == ["oracle_price", "load_market_state", "withdraw", "deposit",
                                                       "tick"]


def test_raw_credit_with_an_invented_refund_id_mints_nothing(venue):
    """The issue's attack: an approver sends a raw treasury credit with an invented refund_id, twice."""
    approver = Actor("april", "approver")
    cash, treasury_in, head = venue.account("alice")["cash"], venue.engine.treasury_in, venue.engine.seq
    for _ in range(2):
        res = venue.call({"type": "credit", "account": "alice", "amount": "1000000", "refund_id": "r-9999",
                          "fund": "treasury", "reason": "trust me"}, actor=approver)
        assert (res.ok, res.code) == (False, "forbidden") and "approved refund record" in res.message
    # not even SYSTEM may send a raw credit: only the desk, for a record
    assert venue.call({"type": "credit", "account": "alice", "amount": "1000000", "refund_id": "r-9999",
                       "fund": "treasury", "reason": "x"}, actor=SYSTEM).code == "forbidden"
    # and the desk itself refuses a refund_id without an approved, unpaid record
    res = venue._submit({"type": "credit", "account": "alice", "amount": "1000000", "refund_id": "r-9999",
                         "fund": "treasury", "reason": "x"}, SYSTEM, approver).result(5)
    assert (res.ok, res.code) == (False, "no_approved_refund")
    assert (venue.account("alice")["cash"], venue.engine.treasury_in, venue.engine.seq) == (cash, treasury_in, head)
    assert venue.engine.credits == {} and venue.refunds() == []
    refused = [r for r in venue.audit() if r["action"] == "credit"]
    assert len(refused) == 4 and all(r["outcome"].startswith("refused") for r in refused)
    assert [r["operator"] for r in refused] == ["april", "april", "system", "april"]


def test_the_desk_pays_only_what_the_record_says(venue):
    op, ap = Actor("olga", "operator"), Actor("april", "approver")
    rec = venue.propose_refund("bob", "10", "fee bug", actor=op)
    rid = rec["refund_id"]
    res = venue._submit({"type": "credit", "account": "bob", "amount": "10", "refund_id": rid, "fund": "insurance",
                         "reason": "x"}, SYSTEM, ap).result(5)
    assert res.code == "no_approved_refund"  # proposed, not approved
    venue.decide_refund(rid, True, "checked", actor=ap)
    res = venue._submit({"type": "credit", "account": "bob", "amount": "9999", "refund_id": rid, "fund": "insurance",
                         "reason": "x"}, SYSTEM, ap).result(5)
    assert res.code == "refund_mismatch"
    before = venue.account("bob")["cash"]
    res = venue.pay_refund(rid, actor=ap)
    assert res.ok and venue.account("bob")["cash"] == before + 10_000_000
    credited = next(e for e in res.events if e["type"] == "credited")
    assert credited["operator"] == "april"  # journaled as the payer, not as "system"
    assert venue.refunds()[0]["status"] == "paid"


@pytest.mark.parametrize("approver_name", ["alice", "Alice", "alice ", " ALICE", "\uff41lice"])
def test_self_approval_is_refused_by_normalised_name(venue, approver_name):
    rec = venue.propose_refund("carol", "5", "fee bug", actor=Actor("alice", "approver"))
    with pytest.raises(NodeError) as e:
        venue.decide_refund(rec["refund_id"], True, "fine", actor=Actor(approver_name, "approver"))
    assert e.value.code == "self_approval"
    assert venue.refunds()[0]["status"] == "proposed"
    assert venue.decide_refund(rec["refund_id"], True, "fine", actor=Actor("bob", "approver"))["status"] == "approved"


@pytest.mark.parametrize("role", ROLES[:4])
def test_refund_desk_actions_by_role(venue, role):
    who = Actor(f"{role}-x", role)
    other = Actor("olga", "operator")
    can = {"propose_refund": RANK[role] >= RANK["operator"], "decide_refund": RANK[role] >= RANK["approver"],
           "pay_refund": RANK[role] >= RANK["approver"]}
    if can["propose_refund"]:
        venue.propose_refund("alice", "1", "r", actor=who)
    else:
        with pytest.raises(NodeError, match="may not"):
            venue.propose_refund("alice", "1", "r", actor=who)
    rid = venue.propose_refund("bob", "1", "r", actor=other)["refund_id"]
    if can["decide_refund"]:
        venue.decide_refund(rid, True, "ok", actor=who)
        assert venue.pay_refund(rid, actor=who).ok
    else:
        with pytest.raises(NodeError, match="may not"):
            venue.decide_refund(rid, True, "ok", actor=who)
        venue.decide_refund(rid, True, "ok", actor=Actor("april", "approver"))
        with pytest.raises(NodeError, match="may not"):
            venue.pay_refund(rid, actor=who)


def test_audit_auth_failure_keeps_the_chain_verified(db_url):
    node = Node.open(db_url, actor=ADMIN, snapshot_every=0)
    try:
        node.audit_auth_failure("203.0.113.5", "unauthenticated", "wrong token", token_id="0123456789ab")
        rec = node.audit()[-1]
        assert (rec["action"], rec["operator"], rec["command"]) == (
            "authenticate", "token:0123456789ab",
            {"source": "203.0.113.5", "code": "unauthenticated", "token_id": "0123456789ab"})
        assert node.store.verify_chains() == []
    finally:
        node.close()
