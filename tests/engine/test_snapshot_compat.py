"""Snapshots written by earlier builds still restore, to exactly their state hash.

``fixtures/state_v2.json`` is a version-2 snapshot written by the build this
session started from (commit aa78eea, before the restore was reworked): the
canonical state of the command file of ``test_build_equivalence``, whose state
hash that test pins. Databases hold such bytes; the current build must restore
them to the same hash, re-encode them to the same bytes, and rebuild the same
books and indexes as resting the orders one by one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from test_build_equivalence import _commands
from test_snapshot import _derived, _one_by_one

from engine.core import Engine
from engine.core.checks import run_checks
from engine.core.snapshot import SnapshotError, decode, encode, restore, same_state, state_hash
from engine.tools.replay import replay_lines

FIXTURE = Path(__file__).parent / "fixtures" / "state_v2.json"
#: the fixture's own hash: the state hash the command file replayed to when state was at version 2
# (the current build refuses three wrong-side stops of that file and computes the mark differently, so
# the file no longer replays to it)
EXPECTED_STATE_HASH = "43883168b2b20a9a7b981dca0524ff546642b43feed5538f6a45b0c7d0db70b7"
V2_MARKET_FIELDS = 28  # a version-3 market row appends the bound fields (4), then the mark and funding fields


def _fixture() -> bytes:
    data = FIXTURE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == EXPECTED_STATE_HASH  # the fixture is intact
    return data


def test_a_version_2_snapshot_of_the_previous_build_restores_to_its_hash():
    data = _fixture()
    state = decode(data, expect_hash=EXPECTED_STATE_HASH)
    assert state["version"] == 2
    e = Engine()
    restore(e, state)
    # re-encoded in the version-3 format: the same records, plus the version-3 fields at their defaults
    # (hard bounds, no tiers, every account's edge flow 0: flows count from the restore)
    v3 = orjson.loads(encode(e))
    assert v3["version"] == 3 and v3["fund_in"] == v3["fund_paid"] == 0
    assert all(row[28:32] == [10**18, 10**17, 4 * 10**18, []] for row in v3["markets"])
    assert all(rec[2] == 0 for rec in v3["accounts"].values())
    assert v3["socialized_loss"] == 0 and v3["liq_cooldown"] == {}
    v2 = {k: v for k, v in v3.items() if k not in ("fund_in", "fund_paid", "socialized_loss", "liq_cooldown")}
    v2["version"] = 2
    v2["markets"] = [row[:V2_MARKET_FIELDS] for row in v3["markets"]]
    v2["accounts"] = {n: rec[:2] for n, rec in v3["accounts"].items()}
    assert orjson.dumps(v2, option=orjson.OPT_SORT_KEYS) == data  # byte for byte, but for the v3 fields
    # the mark and funding fields after the bounds, at their defaults (no basis yet, no premium samples,
    # no remainder, no oracle jump in progress)
    m0 = V2_MARKET_FIELDS + 4
    for row in v3["markets"]:
        assert row[m0 + 1:m0 + 3] == [0, row[16]]  # basis 0, basis_ts = oracle_ts
        assert row[m0 + 8:] == [0, None]  # no funding remainder, no jump in progress
    assert run_checks(e) == []
    assert len(e.orders) == len(state["orders"]) > 200
    assert _derived(e) == _derived(_one_by_one(data))


def test_the_restored_fixture_carries_on_like_the_venue_it_was_taken_from():
    """The fixture is the state the command file replays to: the same state record for record, and
    the same events and hashes for what comes next (a price shock that fires triggers, funding,
    cancels)."""
    data = _fixture()
    # the venue it was taken from: since the fill-risk rules (wrong-side stops refused), the command
    # file no longer replays to the fixture, so the reference is the fixture rebuilt order by order
    live = _one_by_one(data)
    live.seq, live.now = len(_commands()), max(c["ts"] for c in _commands())
    restored = Engine()
    restore(restored, decode(data, expect_hash=EXPECTED_STATE_HASH))
    restored.seq, restored.now = live.seq, live.now
    assert same_state(live, restored)
    ts = live.now
    accounts = sorted({o.account for o in live.orders.values() if o.account is not None})
    cont: list[dict] = []
    for i, (m, mk) in enumerate(sorted(live.markets.items())):
        shocked = mk.mark_price * (80 if i % 2 else 120) // 100 // mk.tick * mk.tick
        for source in ("sim", "pyth"):  # a jump beyond the band needs a second source
            cont.append({"type": "oracle_price", "market": m, "price": str(shocked // 10**6), "source": source})
    cont.append({"type": "tick"})
    cont += [{"type": "cancel_all", "account": a} for a in accounts[:5]]
    cont.append({"type": "tick"})
    for k, c in enumerate(cont):
        c["ts"] = ts + 3_600_000 * (k + 1)
        assert restored.apply_obj(dict(c)) == live.apply_obj(dict(c))
        assert state_hash(restored) == state_hash(live)
    assert run_checks(restored) == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[: len(b) // 3],
        lambda b: b[:-2],
        lambda b: b.replace(b'"version":2', b'"version":4'),  # a version this build cannot read
        lambda b: b.replace(b'"orders":[[', b'"orders":[["x",'),
    ],
)
def test_a_damaged_fixture_is_refused_and_the_engine_is_left_as_it_was(mangle):
    bad = mangle(_fixture())
    target = replay_lines([orjson.dumps(c) for c in _commands()[:50]])
    before = state_hash(target)
    with pytest.raises(SnapshotError):
        decode(bad, expect_hash=EXPECTED_STATE_HASH)  # the recorded hash catches every change
    with pytest.raises(SnapshotError):
        restore(target, decode(bad))  # and without it, the content is refused on its own
    assert state_hash(target) == before


def test_a_malformed_record_late_in_the_fixture_leaves_the_engine_as_it_was():
    state = orjson.loads(_fixture())
    state["orders"][-1][2] = "NO-SUCH-MARKET"  # after every other order has been built
    last = sorted(state["accounts"])[-1]
    target = replay_lines([orjson.dumps(c) for c in _commands()[:50]])
    before = state_hash(target)
    with pytest.raises(SnapshotError):
        restore(target, state)
    assert state_hash(target) == before
    state = orjson.loads(_fixture())
    state["accounts"][last][1]["NO-SUCH-MARKET"] = [1, 1, 0]
    with pytest.raises(SnapshotError):
        restore(target, state)
    assert state_hash(target) == before


def test_restored_orders_and_positions_share_the_account_and_market_names():
    """One string per name (the account's and the market's), not one per decoded record."""
    e = Engine()
    restore(e, decode(_fixture()))
    for o in e.orders.values():
        assert o.account is e.accounts[o.account].name
        assert o.market is e.markets[o.market].name
    for a in e.accounts.values():
        for m in a.positions:
            assert m is e.markets[m].name
