"""Canonical state, its hash, snapshots and restore.

The canonical encoding is JSON (sorted keys, no whitespace, integers only for
money, prices and sizes) with a ``format`` and ``version``; it is never
pickled. ``state_hash`` is SHA-256 of exactly those bytes. The journal's
position (``seq``) and the engine clock are not part of it, so a rollback
restores a snapshot's hash exactly.

Derived indexes (books, trigger heaps, liquidation index, client order ids,
open quantities) are rebuilt on restore from the canonical records: resting
orders are re-added in id order, which is their time priority.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Final

import orjson

from engine.errors import PerpdeskError

from .book import Order
from .commands import MAX_OPEN_INTEREST, MAX_POSITION_NOTIONAL, MAX_SIZE
from .margin import value_and_mm
from .model import Account, Market, Position, hold_order, push_trigger
from .runtime import gc_paused

FORMAT = "perpdesk-state"
VERSION = 3  # 2: guard rails (safeguards, audit, per-market guard parameters, flags, pending oracle)
# 3: bounds (per-market max_order_size, max_position_notional, open_interest_cap, margin_tiers at the end
#    of the market row), each account's edge flow (third field of its row), fund_in / fund_paid;
#    and mark and funding (impact notional, smoothed basis, premium samples, funding remainder, oracle jump
#    run: after the bounds, at the end of the market row; an older state restores with no basis and no samples);
#    and liquidation economics (socialized_loss ledger, liq_cooldown: account -> next partial step time;
#    versions 1 and 2 restore with no socialized loss and no account in a cooldown)
READABLE = (1, 2, 3)  # a version-1 state predates the guard rails: it restores with safeguards off
# a version-1/2 state restores with the hard bounds, no tiers, every account's flow 0 and fund_in /
# fund_paid 0 (flows count from there; a rollback *to* such a state re-applies nothing, so it is
# refused when money crossed the edge after it: see operations.rollback)


class SnapshotError(PerpdeskError):
    """A snapshot that cannot be trusted: corrupt, truncated, wrong hash or version."""

    code = "bad_snapshot"


class StateEncodeError(SnapshotError):
    """The state holds a value its canonical encoding cannot (an integer beyond signed 64 bits).

    The bounds at the boundary (commands.py) make this unreachable; raised, typed, instead of an
    orjson traceback if it ever happens, so callers can report it."""

    code = "state_not_encodable"


class Snapshot:
    __slots__ = ("snapshot_id", "seq", "ts", "label", "trigger", "state_hash", "data", "markets")

    def __init__(self, snapshot_id, seq, ts, label, trigger, state_hash, data, markets=None) -> None:
        self.snapshot_id = snapshot_id
        self.seq = seq
        self.ts = ts
        self.label = label
        self.trigger = trigger
        self.state_hash = state_hash
        self.data = data
        # market -> (mark, index, funding index) at the snapshot; from ``data`` on first use if not given
        self.markets = markets


def market_summary(snap: Snapshot) -> dict:
    """Each market's (mark price, index price, funding index) in the snapshot (decoded once, then kept)."""
    if snap.markets is None:
        try:
            state = decode(snap.data, expect_hash=None)
            snap.markets = {row[0]: (row[12], row[11], row[13]) for row in state["markets"]}
        except (SnapshotError, KeyError, TypeError, IndexError):
            snap.markets = {}
    return snap.markets


def _market_rows(engine) -> list:
    return [
        [mk.name, mk.tick, mk.lot, mk.imf, mk.mmf, mk.maker_fee, mk.taker_fee, mk.liq_fee, mk.band,
         mk.post_only_band, mk.mode, mk.index_price, mk.mark_price, mk.funding_index, mk.funding_rate,
         mk.last_funding_ts, mk.oracle_ts, mk.long_oi, mk.short_oi, mk.liquidations_paused, mk.triggers_paused,
         mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share, mk.flags, mk.oracle_pending,
         mk.quarantined, mk.max_order_size, mk.max_position_notional, mk.open_interest_cap, mk.margin_tiers,
         mk.impact_notional, mk.mark_basis, mk.basis_ts, mk.prem_start, mk.prem_sum, mk.prem_n,
         mk.prem_last, mk.sample_ts, mk.funding_rem, mk.oracle_jump]
        for mk in engine.markets.values()
    ]


def _scalars(engine) -> dict:
    """Everything in the canonical state but the markets, accounts and orders."""
    out = _scalars_v2(engine, VERSION)
    out["socialized_loss"] = engine.socialized_loss
    out["liq_cooldown"] = engine.liq_cooldown
    # operator controls: written only when set, so a venue that never used them hashes as before
    if not engine.withdrawals_enabled:
        out["withdrawals_enabled"] = False
    if engine.account_modes:
        out["account_modes"] = engine.account_modes
    return out


def _scalars_v2(engine, version: int) -> dict:
    return {
        "format": FORMAT,
        "version": version,
        "next_order_id": engine.next_order_id,
        "insurance_fund": engine.insurance_fund,
        "fee_pool": engine.fee_pool,
        "funding_pool": engine.funding_pool,
        "deposits": engine.deposits,
        "withdrawals": engine.withdrawals,
        "treasury_in": engine.treasury_in,
        "fund_in": engine.fund_in,
        "fund_paid": engine.fund_paid,
        "platform_access": engine.platform_access,
        "brake_engaged": engine.brake_engaged,
        "liquidations_paused": engine.liquidations_paused,
        "triggers_paused": engine.triggers_paused,
        "pre_brake_pauses": engine.pre_brake_pauses,
        "credits": engine.credits,
        "maintenance": engine.maintenance,
        "safeguards": engine.safeguards,
        "audit": engine.audit,
    }


def canonical(engine) -> dict:
    accounts = {}
    for name, a in engine.accounts.items():
        accounts[name] = [a.cash, {m: [p.size, p.cost, p.funding_entry] for m, p in a.positions.items() if p.size},
                          a.flow]
    orders = [
        [o.id, o.account, o.market, o.side, o.order_type, o.price, o.size, o.remaining, o.tif, o.post_only,
         o.reduce_only, o.client_order_id, o.trigger_price, o.ts]
        for o in sorted(engine.orders.values(), key=_order_id)
    ]
    state = _scalars(engine)
    state["markets"] = _market_rows(engine)
    state["accounts"] = accounts
    state["orders"] = orders
    return state


def same_state(a, b) -> bool:
    """Whether two engines have the same canonical state (equal :func:`state_hash`), comparing the
    records in place instead of encoding both: far cheaper for a large venue. Markets and scalars are
    compared by their canonical bytes; accounts, positions and orders field by field (every field of
    their canonical records, all typed attributes, so equal values encode to equal bytes)."""
    opt = orjson.OPT_SORT_KEYS
    if orjson.dumps(_market_rows(a), option=opt) != orjson.dumps(_market_rows(b), option=opt):
        return False
    if orjson.dumps(_scalars(a), option=opt) != orjson.dumps(_scalars(b), option=opt):
        return False
    accounts_a: dict[str, Account] = a.accounts
    accounts_b: dict[str, Account] = b.accounts
    if len(accounts_a) != len(accounts_b):
        return False
    for name, x in accounts_a.items():
        y = accounts_b.get(name)
        if y is None or x.cash != y.cash or x.flow != y.flow or not _same_positions(x, y):
            return False
    orders_a: dict[int, Order] = a.orders
    orders_b: dict[int, Order] = b.orders
    if len(orders_a) != len(orders_b):
        return False
    for oid, o in orders_a.items():
        q = orders_b.get(oid)
        if q is None or not _same_order(o, q):
            return False
    return True


def _same_positions(x: Account, y: Account) -> bool:
    """The canonical ``{market: [size, cost, funding_entry]}`` of open positions, compared."""
    n = 0
    py = y.positions
    for m, p in x.positions.items():
        if p.size:
            q = py.get(m)
            if q is None or q.size != p.size or q.cost != p.cost or q.funding_entry != p.funding_entry:
                return False
            n += 1
    for q in py.values():
        if q.size:
            n -= 1
    return n == 0


def ledger_candidates(accounts: dict[str, Account], rows: dict, n_orders: dict[str, int]) -> list[str]:
    """Names of the accounts whose ledger may differ from a snapshot's account records ``rows``
    (``{name: [cash, {market: [size, cost, entry]}]}``, ``n_orders`` live orders each): every account
    that is not plainly untouched (same cash, same number of live orders, same open positions at the
    same cost). The rollback preview compares those in full; the rest are the same."""
    out: list[str] = []
    for name, a in accounts.items():
        row = rows.get(name)
        if row is None:
            out.append(name)
            continue
        rec: list = row
        if a.cash != rec[0] or len(a.orders) != n_orders.get(name, 0):
            out.append(name)
            continue
        prow: dict = rec[1]
        same = True
        n = 0
        for m, p in a.positions.items():
            if p.size:
                r = prow.get(m)
                if r is None:
                    same = False
                    break
                pr: list = r
                if pr[0] != p.size or pr[1] != p.cost:
                    same = False
                    break
                n += 1
            elif p.cost:
                same = False
                break
        if not same or n != len(prow):
            out.append(name)
    return out


def _same_order(o: Order, q: Order) -> bool:
    return (o.id == q.id and o.account == q.account and o.market == q.market and o.side == q.side
            and o.order_type == q.order_type and o.price == q.price and o.size == q.size
            and o.remaining == q.remaining and o.tif == q.tif and o.post_only == q.post_only
            and o.reduce_only == q.reduce_only and o.client_order_id == q.client_order_id
            and o.trigger_price == q.trigger_price and o.ts == q.ts)


def _order_id(o) -> int:
    return o.id


def encode(engine) -> bytes:
    """The canonical bytes; raises :class:`StateEncodeError` (typed, with where) for a value beyond 64 bits."""
    with gc_paused():
        state = canonical(engine)
        try:
            return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as e:
            raise StateEncodeError(f"the state cannot be encoded: {_too_big(state) or e}") from None


_I64: Final = 2**63


def _too_big(v: object, where: str = "state") -> str | None:
    """Where the first integer beyond signed 64 bits is (for the message), or None."""
    if type(v) is int:
        return f"{where} = {v} is beyond signed 64 bits" if not -_I64 <= v < _I64 else None
    if isinstance(v, dict):
        for k, x in v.items():
            r = _too_big(x, f"{where}.{k}")
            if r is not None:
                return r
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            r = _too_big(x, f"{where}[{i}]")
            if r is not None:
                return r
    return None


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_hash(engine) -> str:
    return hash_bytes(encode(engine))


def take(engine, label: str, trigger: str) -> Snapshot:
    data = encode(engine)
    summary = {m: (mk.mark_price, mk.index_price, mk.funding_index) for m, mk in engine.markets.items()}
    return Snapshot(f"snap-{engine.seq}", engine.seq, engine.now, label, trigger, hash_bytes(data), data, summary)


def decode(data: bytes, expect_hash: str | None = None) -> dict:
    if expect_hash is not None and hash_bytes(data) != expect_hash:
        raise SnapshotError("snapshot bytes do not match their recorded SHA-256: it is corrupt or truncated")
    try:
        with gc_paused(promote=True):  # the decoded records live on: no young collection walks them
            state = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise SnapshotError(f"snapshot is not valid JSON (corrupt or truncated): {e}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SnapshotError("not a perpdesk state snapshot")
    if state.get("version") not in READABLE:
        raise SnapshotError(f"snapshot version {state.get('version')!r} is not supported "
                            f"(this build reads {', '.join(map(str, READABLE))})")
    return state


def restore(engine, state: dict) -> None:
    """Replace ``engine``'s state with ``state`` (from :func:`decode`) and rebuild indexes."""
    with gc_paused(promote=True):  # the restored records are long-lived: straight to the oldest generation
        _restore(engine, state)


def _restore(engine, state: dict) -> None:
    from .liqindex import LiquidationIndex

    try:
        markets: dict[str, Market] = {}
        v1 = state["version"] == 1
        v3 = state["version"] >= 3
        for row in state["markets"]:
            (name, tick, lot, imf, mmf, maker, taker, liq, band, pob, mode, index, mark, fidx, rate,
             lfts, ots, loi, soi, lpaused, tpaused) = row[:21]
            mk = Market(name, tick, lot, imf, mmf, maker, taker, liq, band, pob)
            mk.mode = mode
            mk.index_price, mk.mark_price, mk.funding_index, mk.funding_rate = index, mark, fidx, rate
            mk.last_funding_ts, mk.oracle_ts, mk.long_oi, mk.short_oi = lfts, ots, loi, soi
            mk.liquidations_paused, mk.triggers_paused = lpaused, tpaused
            if not v1:
                (mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share, flags, pending,
                 mk.quarantined) = row[21:28]
                mk.flags = dict(flags)
                mk.oracle_pending = list(pending) if pending is not None else None
            if v3:
                mk.max_order_size, mk.max_position_notional, mk.open_interest_cap, tiers = row[28:32]
                mk.margin_tiers = [[int(t[0]), int(t[1])] for t in tiers]
                (mk.impact_notional, mk.mark_basis, mk.basis_ts, mk.prem_start, mk.prem_sum, mk.prem_n,
                 mk.prem_last, mk.sample_ts, mk.funding_rem, jump) = row[32:42]
                mk.oracle_jump = list(jump) if jump is not None else None
            else:  # an older state: the hard bounds, no tiers; no basis yet (the mark follows the oracle), no
                # premium samples, no remainder
                mk.max_order_size, mk.max_position_notional, mk.open_interest_cap = (
                    MAX_SIZE, MAX_POSITION_NOTIONAL, MAX_OPEN_INTEREST)
                mk.basis_ts = mk.sample_ts = ots
                mk.prem_start = lfts - lfts % 3_600_000  # core.FUNDING_INTERVAL_MS
            markets[name] = mk
        accounts: dict[str, Account] = {}
        arows: dict = state["accounts"]
        # positions are keyed by the market's own name (one string shared by every account, its
        # hash computed once); consecutive positions are mostly in the same market
        last_m = ""
        last_mk: Market | None = None
        for name, rec in arows.items():
            acct_row: list = rec
            if len(acct_row) != (3 if v3 else 2):
                raise ValueError(f"account {name!r} has a malformed record")
            a = Account(name)
            a.cash = acct_row[0]
            if v3:
                a.flow = acct_row[2]
            positions: dict = acct_row[1]
            for mkey, prec in positions.items():
                m: str = mkey
                prow: list = prec
                if len(prow) != 3:
                    raise ValueError(f"account {name!r} has a malformed position in {m!r}")
                mkt = last_mk
                if mkt is None or m != last_m:
                    mkt = markets[m]
                    last_mk = mkt
                    last_m = m
                p = Position(prow[2])
                p.size = prow[0]
                p.cost = prow[1]
                a.positions[mkt.name] = p
                mkt.holders.add(name)
            accounts[name] = a
        scalars = {k: state[k] for k in (
            "next_order_id", "insurance_fund", "fee_pool", "funding_pool", "deposits", "withdrawals",
            "treasury_in", "platform_access", "brake_engaged", "liquidations_paused", "triggers_paused",
            "credits", "maintenance")}
        scalars["pre_brake_pauses"] = state.get("pre_brake_pauses")
        scalars["fund_in"] = state["fund_in"] if v3 else 0
        scalars["fund_paid"] = state["fund_paid"] if v3 else 0
        # a version-1 state predates the guard rails: it carries on as it was, without them
        scalars["safeguards"] = False if v1 else bool(state["safeguards"])
        audit = state.get("audit") or [-1, []]
        scalars["audit"] = [audit[0], [list(f) for f in audit[1]]]
        # version 3: the socialized-loss ledger and liquidation cooldowns (none before)
        scalars["socialized_loss"] = int(state.get("socialized_loss", 0))
        scalars["liq_cooldown"] = {str(k): int(t) for k, t in (state.get("liq_cooldown") or {}).items()}
        # operator controls (absent: withdrawals enabled, every account normal)
        scalars["withdrawals_enabled"] = bool(state.get("withdrawals_enabled", True))
        modes = {str(k): str(v) for k, v in (state.get("account_modes") or {}).items()}
        if any(v not in ("reduce_only", "frozen") for v in modes.values()):
            raise ValueError("account_modes holds an unknown mode")
        scalars["account_modes"] = modes
        # every record is built into fresh registries first: a malformed one leaves the engine as it was
        fresh_orders: dict[int, Order] = {}
        fresh_coids: dict[tuple[str, str], int] = {}
        _rest_all(state["orders"], accounts, markets, fresh_orders, fresh_coids)
    except (KeyError, TypeError, ValueError) as e:
        raise SnapshotError(f"snapshot is missing or has malformed records: {e!r}") from None
    engine.markets = markets
    engine.accounts = accounts
    engine.orders = fresh_orders
    engine.coids = fresh_coids
    for k, v in scalars.items():
        setattr(engine, k, v)
    engine.liq_index = LiquidationIndex()
    engine.liq_dirty = set()
    engine.mark_epoch += 1
    _index_all(engine.liq_index, _by_name(accounts), markets)


def _index_all(idx, accts: list[Account], markets: dict[str, Market]) -> None:
    """Index every account of ``accts`` (in that order) into an empty index, compiled: the very same
    entries, counter and versions as ``LiquidationIndex.reindex`` on each in turn (a test pins it),
    with each market's heaps built by one ``heapify`` instead of a push per position (a heap's
    layout does not change what it pops: its entries are all distinct). Keep it in step with
    ``reindex`` in liqindex.py."""
    from .liqindex import SAFETY, K, y_long, y_short

    ylong: dict[str, int] = {m: y_long(mk) for m, mk in markets.items()}
    yshort: dict[str, int] = {m: y_short(mk) for m, mk in markets.items()}
    longs: dict[str, list[tuple[int, int, str, int]]] = {m: mk.liq_long for m, mk in markets.items()}
    shorts: dict[str, list[tuple[int, int, str, int]]] = {m: mk.liq_short for m, mk in markets.items()}
    k: int = K
    safety: int = SAFETY
    counter: int = idx.counter
    for acct in accts:
        acct.liq_version += 1
        value, mm, n = value_and_mm(acct, markets)
        if not n:
            continue
        share = (value - mm - safety * n) // n
        ver = acct.liq_version
        name = acct.name
        for mname, pos in acct.positions.items():
            size = pos.size
            if not size:
                continue
            counter += 1
            if size > 0:
                longs[mname].append(((share * k) // size - ylong[mname], counter, name, ver))  # -(y - q)
            else:
                shorts[mname].append((yshort[mname] + (share * k) // -size, counter, name, ver))
    idx.counter = counter
    for mk in markets.values():
        heapq.heapify(mk.liq_long)
        heapq.heapify(mk.liq_short)
        if len(mk.liq_long) > 4 * len(mk.holders) + 1024:
            idx.compact(mk, markets, True)
        if len(mk.liq_short) > 4 * len(mk.holders) + 1024:
            idx.compact(mk, markets, False)


def _by_name(accounts: dict[str, Account]) -> list[Account]:
    """The accounts with positions or orders, in name order (a decoded state's are already sorted:
    the canonical encoding sorts keys, so usually this is one pass without a sort)."""
    out: list[Account] = []
    prev = ""
    ordered = True
    for name, a in accounts.items():
        if a.positions:
            if out and name <= prev:
                ordered = False
            out.append(a)
            prev = name
    if not ordered:
        out.sort(key=_account_name)
    return out


def _account_name(a: Account) -> str:
    return a.name


def _rest_all(rows: list, accounts: dict[str, Account], markets: dict[str, Market],
              eng_orders: dict[int, Order], coids: dict[tuple[str, str], int]) -> None:
    """Build the orders of ``rows`` (canonical records, in id order: their time priority) and do what
    ``liveorders.rest`` / ``liveorders.rest_trigger`` do for each (through the same ``model.hold_order`` and
    ``model.push_trigger``), into the fresh registries, with each
    market's book loaded in one go instead of an insert per order. Leaves the very same registries
    (in the same order), quantities, books and trigger heaps as resting them one by one (a test pins
    it). Raises KeyError/TypeError/ValueError on a malformed record."""
    book_orders: dict[str, list[Order]] = {m: [] for m in markets}
    # ids stay the decoded int objects (registry keys without boxing them again); account and
    # market names become the account's and market's own strings (shared, hashes computed once).
    # Consecutive rows mostly share a market, often an account: the last ones are kept at hand.
    reg: dict = eng_orders
    last_a = ""
    acct: Account | None = None
    last_m = ""
    mk: Market | None = None
    blist: list[Order] = []
    for r in rows:
        row: list = r
        if len(row) != 14:
            raise ValueError(f"an order record has {len(row)} fields, not 14")
        oid = row[0]
        acct_name: str = row[1]
        market: str = row[2]
        side: int = row[3]
        otype: str = row[4]
        remaining: int = row[7]
        ro: bool = row[10]
        coid: str | None = row[11]
        if acct is None or acct_name != last_a:
            acct = accounts[acct_name]
            last_a = acct_name
        if mk is None or market != last_m:
            mk = markets[market]
            blist = book_orders[mk.name]
            last_m = market
        mname = mk.name
        aname = acct.name
        o = Order(oid, aname, side, row[5], row[6], mname, otype, row[8], row[9], ro, coid, row[12], row[13])
        o.remaining = remaining
        pos = acct.positions.get(mname)
        if pos is None:
            pos = acct.positions[mname] = Position(mk.funding_index)
        if otype == "stop_loss" or otype == "take_profit":
            pos.reduce_orders += 1
            push_trigger(mk, o)
        else:
            blist.append(o)
            hold_order(pos, o)
        reg[oid] = o
        aorders: dict = acct.orders
        aorders[oid] = o
        if coid is not None:
            coids[(aname, coid)] = oid
    for m, lst in book_orders.items():
        if lst:
            markets[m].book.load(lst)


def controls(engine) -> dict:
    return {
        "platform_access": engine.platform_access,
        "brake_engaged": engine.brake_engaged,
        "liquidations_paused": engine.liquidations_paused,
        "triggers_paused": engine.triggers_paused,
        "pre_brake_pauses": engine.pre_brake_pauses,
        # the maintenance schedule is the operators' too: a restored window must not run again and reopen
        "maintenance": orjson.loads(orjson.dumps(engine.maintenance)),
        "safeguards": engine.safeguards,
        "withdrawals_enabled": engine.withdrawals_enabled,
        "account_modes": dict(engine.account_modes),
        "markets": {m: (mk.mode, mk.liquidations_paused, mk.triggers_paused, dict(mk.flags),
                        (mk.post_only_band, mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share,
                         mk.max_order_size, mk.max_position_notional, mk.open_interest_cap,
                         [list(t) for t in mk.margin_tiers], mk.impact_notional))
                    for m, mk in engine.markets.items()},
    }


def apply_controls(engine, c: dict) -> list[dict]:
    """Put back an operator posture after a restore; returns the events for what changed."""
    events = []
    if engine.platform_access != c["platform_access"]:
        engine.platform_access = c["platform_access"]
        events.append({"type": "platform_access", "enabled": engine.platform_access})
    engine.brake_engaged = c["brake_engaged"]
    engine.pre_brake_pauses = c["pre_brake_pauses"]
    for flag, on_ev, off_ev in (("liquidations_paused", "liquidations_paused", "liquidations_resumed"),
                                ("triggers_paused", "triggers_paused", "triggers_resumed")):
        if getattr(engine, flag) != c[flag]:
            setattr(engine, flag, c[flag])
            events.append({"type": on_ev if c[flag] else off_ev, "market": None})
    if engine.safeguards != c["safeguards"]:
        engine.safeguards = c["safeguards"]
        events.append({"type": "safeguards_set", "enabled": engine.safeguards})
    # a rollback never lifts a withdrawals pause or an account's mode by itself (nor sets one)
    if "withdrawals_enabled" in c and engine.withdrawals_enabled != c["withdrawals_enabled"]:
        engine.withdrawals_enabled = c["withdrawals_enabled"]
        events.append({"type": "withdrawals_set", "enabled": engine.withdrawals_enabled})
    if "account_modes" in c:
        modes: dict = c["account_modes"]
        for name in sorted(set(modes) | set(engine.account_modes)):
            want = modes.get(name, "normal")
            if engine.account_modes.get(name, "normal") != want:
                events.append({"type": "account_mode_set", "account": name, "mode": want,
                               "previous": engine.account_modes.get(name, "normal")})
        engine.account_modes = dict(modes)
    for m, (mode, lp, tp, flags, params) in c["markets"].items():
        mk = engine.markets.get(m)
        if mk is None:
            continue
        if mk.mode != mode:
            mk.mode = mode
            events.append({"type": "market_mode", "market": m, "mode": mode})
        mk.liquidations_paused = lp
        mk.triggers_paused = tp
        # guard flags are posture too: a rollback never clears a flag (or a tripped breaker) by itself
        for f in sorted(mk.flags):
            if f not in flags:
                events.append({"type": "market_unflagged", "market": m, "flag": f})
        for f in sorted(flags):
            if mk.flags.get(f) != flags[f]:
                events.append({"type": "market_flagged", "market": m, "flag": f, "detail": flags[f]})
        mk.flags = dict(flags)
        (mk.post_only_band, mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share,
         mk.max_order_size, mk.max_position_notional, mk.open_interest_cap, tiers, mk.impact_notional) = params
        mk.margin_tiers = [list(t) for t in tiers]
    if "maintenance" in c:
        engine.maintenance = c["maintenance"]
    return events


class EdgePlan:
    """What a rollback to a decoded ``state`` re-applies: the money that crossed the venue's edge after
    it (deposits, withdrawals, credits) stays where it went. See operations.rollback."""

    __slots__ = ("deltas", "flows", "fund_after", "bad_debt", "code", "problem")

    def __init__(self) -> None:
        self.deltas: dict[str, int] = {}  # account -> cash re-applied (flow now - flow at the snapshot)
        self.flows: dict[str, int] = {}  # account -> its edge flow now (kept)
        self.fund_after = 0  # insurance fund after the rollback
        self.bad_debt: dict[str, int] = {}  # account without positions left below zero -> covered by the fund
        self.code = ""  # non-empty: the rollback is refused with this code
        self.problem = ""


def edge_plan(engine, state: dict) -> EdgePlan:
    """Plan the re-application of edge flows for a rollback from ``engine`` to ``state`` (pure)."""
    from .fixedpoint import fmt_amount

    plan = EdgePlan()
    rows: dict = state["accounts"]
    v3 = state["version"] >= 3
    fund = state["insurance_fund"]
    if not v3:
        # flows were not recorded then: only a rollback across which no money crossed the edge is exact
        moved = (engine.deposits != state["deposits"] or engine.withdrawals != state["withdrawals"]
                 or engine.treasury_in != state["treasury_in"] or len(engine.credits) != len(state["credits"]))
        if moved:
            plan.code = "snapshot_predates_flows"
            plan.problem = (f"the snapshot (state version {state['version']}) does not record each account's "
                            "deposits and withdrawals, and money crossed the venue's edge after it; roll back to a "
                            "newer snapshot")
            return plan
    else:
        fund += (engine.fund_in - state["fund_in"]) - (engine.fund_paid - state["fund_paid"])
    for name, a in engine.accounts.items():
        plan.flows[name] = a.flow
        row = rows.get(name)
        before = row[2] if (row is not None and v3) else 0
        if row is None and not v3:
            before = a.flow  # (no money moved: see above) an account created after it had no edge flow
        d = a.flow - before
        if d:
            plan.deltas[name] = d
        cash = (row[0] if row is not None else 0) + d
        has_positions = row is not None and bool(row[1])
        if cash < 0 and not has_positions:
            plan.bad_debt[name] = -cash
    debt = sum(plan.bad_debt.values())
    plan.fund_after = fund - debt
    if plan.fund_after < 0:
        listed = ", ".join(f"{n} {fmt_amount(-plan.deltas.get(n, 0))} out" for n in sorted(plan.bad_debt))
        plan.code = "rollback_uncovered"
        plan.problem = (f"re-applying the money that left after the snapshot leaves {fmt_amount(debt)} USDC of debt "
                        f"({listed or 'refunds paid from the insurance fund'}) that the insurance fund "
                        f"({fmt_amount(fund)} USDC after re-applying its own flows) cannot cover")
    return plan
