"""A hypothesis state machine: random command streams over several accounts and the three default
markets. After every command all validation checks hold, a refused command is exactly one
``rejected`` event and changes nothing, nobody below maintenance escapes liquidation after market
data, and the journal replays (or a restored copy continues) to the very same state hash.

It runs twice: with the guard rails on (oracle jumps held for a second source, bad market-state
writes quarantined, circuit breakers tripping on small limits, stale oracles flagged) and with
them off from the start; either run also switches them on and off now and then."""

from __future__ import annotations

from engine_helpers import BTC, ETH, SOL, Venue
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.core import Engine, wire
from engine.core.checks import run_checks
from engine.core.fixedpoint import fmt_funding, fmt_price, fmt_size
from engine.core.liquidation import liquidation_active
from engine.core.margin import account_margins, account_value, value_and_mm
from engine.core.snapshot import decode, encode, restore, state_hash

ACCTS = ("a0", "a1", "a2", "a3", "a4")
DEPOSITS = ("300", "3000", "30000", "300000", "3000000")
MARKETS = (BTC, ETH, SOL)
MODES = ("open", "open", "open", "post_only", "reduce_only", "cancel_only", "halted")
rarely = st.integers(0, 7)  # operator switches act on 1 draw in 8, so the venue mostly trades
MARKET_DATA = ("oracle_price", "tick", "load_market_state")

accts = st.sampled_from(ACCTS)
markets = st.sampled_from(MARKETS)
sides = st.sampled_from(("buy", "sell"))
lots = st.one_of(st.integers(1, 20), st.integers(1, 3000))
bps = st.integers(-600, 600)
opt_market = st.one_of(st.none(), markets)


class EngineMachine(RuleBasedStateMachine):
    SAFEGUARDS = True

    def __init__(self) -> None:
        super().__init__()
        self.v = Venue.default(accounts=())
        if not self.SAFEGUARDS:
            self.v.safeguards(False)
        for a, amt in zip(ACCTS, DEPOSITS, strict=True):
            self.v.deposit(a, amt)
        self.shadow: Engine | None = None
        self.snapshot_ids: list[str] = []
        self.coid_n = 0
        # start with leveraged positions so that shocks, triggers and liquidations have work to do
        for m, taker, side, n in ((BTC, "a0", "buy", 120), (ETH, "a1", "sell", 3500), (SOL, "a2", "buy", 30000)):
            maker_side = "sell" if side == "buy" else "buy"
            self.send("place_order", account="a4", market=m, side=maker_side, size=self.sz(m, n),
                      price=self.px(m, 10 if side == "buy" else -10))
            evs = self.send("place_order", account=taker, market=m, side=side, size=self.sz(m, n),
                            price=self.px(m, 10 if side == "buy" else -10))
            assert any(ev["type"] == "trade" for ev in evs), evs
            for kind, off in (("stop_loss", -300), ("take_profit", 300)):
                off = off if side == "buy" else -off
                self.send("place_order", account=taker, market=m, side=maker_side, order_type=kind,
                          size=self.sz(m, n), trigger_price=self.px(m, off))
            self.send("place_order", account="a3", market=m, side="buy", size=self.sz(m, 200), price=self.px(m, -150))
            self.send("place_order", account="a3", market=m, side="sell", size=self.sz(m, 200), price=self.px(m, 150))

    # ---- plumbing -----------------------------------------------------------
    @property
    def e(self) -> Engine:
        return self.v.e

    def send(self, type_: str, **fields) -> list[dict]:
        obj = {"type": type_, "ts": self.v.ts, **fields}
        before = state_hash(self.e)
        evs = self.v.apply(obj)
        kinds = [ev["type"] for ev in evs]
        if "rejected" in kinds:
            assert kinds == ["rejected"], evs
            ev = evs[0]
            assert ev["code"] and ev["message"] and ev["command_type"] == type_
            assert state_hash(self.e) == before, f"refused {type_} changed state: {ev}"
        fails = run_checks(self.e)
        assert fails == [], f"after {obj}: {fails}"
        for ev in evs:  # the per-type wire plans format exactly what the generic walk formats
            planned, walked = ev.copy(), ev.copy()
            wire._format_in_place(planned)
            wire._format_walk(walked)
            assert planned == walked, f"wire plan for {ev['type']} differs from the walk: {planned} != {walked}"
        if type_ in MARKET_DATA and kinds != ["rejected"]:
            self.no_one_escapes_liquidation(evs)
        if self.shadow is not None:
            assert self.shadow.apply_obj(obj) == evs, f"restored copy diverged on {obj}"
            assert state_hash(self.shadow) == state_hash(self.e)
        return evs

    def no_one_escapes_liquidation(self, evs) -> None:
        """The liquidation index must find every account below maintenance (no full scan in the engine).

        An account the book cannot take (and that is not bankrupt) waits in a liquidation cooldown: it
        was found, examined, and its next step waits for engine time (liquidation.COOLDOWN_MS)."""
        if self.e.liquidations_paused:
            return
        involved = set()
        for ev in evs:
            for k in ("account", "maker_account", "taker_account", "counterparty"):
                if k in ev:
                    involved.add(ev[k])
        for name, acct in self.e.accounts.items():
            if name in involved or self.e.liq_cooldown.get(name, -1) > self.e.now:
                continue
            value, mm, npos = value_and_mm(acct, self.e.markets)
            if npos and value < mm:
                active = [m for m, p in acct.positions.items() if p.size and liquidation_active(self.e, self.e.markets[m])]
                assert not active, f"{name} is below maintenance ({value} < {mm}) in {active} and was not liquidated"

    def px(self, market: str, off_bps: int) -> str:
        mk = self.e.markets[market]
        p = mk.mark_price * (10_000 + off_bps) // 10_000
        p -= p % mk.tick
        return fmt_price(max(p, mk.tick))

    def sz(self, market: str, n: int) -> str:
        return fmt_size(self.e.markets[market].lot * n)

    # ---- user commands ----------------------------------------------------------
    @rule(a=accts, amount=st.sampled_from(("1", "250.5", "10000", "0.000001")))
    def deposit(self, a, amount):
        self.send("deposit", account=a, amount=amount)

    @rule(a=accts, amount=st.sampled_from(("1", "100", "2500", "1000000")))
    def withdraw(self, a, amount):
        # the engine finds accounts with negative equity through the liquidation index; a full scan agrees
        negative = sorted(n for n, acct in self.e.accounts.items() if account_value(acct, self.e.markets) < 0)
        evs = self.send("withdraw", account=a, amount=amount)
        code = evs[0]["code"] if evs[0]["type"] == "rejected" else None
        if code == "venue_insolvent":
            assert negative and f"{len(negative)} account(s)" in evs[0]["message"], (negative, evs)
        elif code not in ("access_disabled", "unknown_account"):
            assert not negative, f"withdrawal not gated although {negative} have negative equity: {evs}"

    @rule(a=accts, m=markets, side=sides, n=lots, off=bps, tif=st.sampled_from(("gtc", "gtc", "ioc", "fok")),
          post_only=st.booleans(), reduce_only=st.sampled_from((False, False, False, True)),
          with_coid=st.booleans())
    def limit_order(self, a, m, side, n, off, tif, post_only, reduce_only, with_coid):
        kw = {}
        if with_coid:
            self.coid_n += 1
            kw["client_order_id"] = f"c{self.coid_n % 7}"  # collisions on purpose
        self.send("place_order", account=a, market=m, side=side, order_type="limit", size=self.sz(m, n),
                  price=self.px(m, off), time_in_force=tif, post_only=post_only, reduce_only=reduce_only, **kw)

    @rule(a=accts, m=markets, side=sides, n=lots, reduce_only=st.booleans())
    def market_order(self, a, m, side, n, reduce_only):
        self.send("place_order", account=a, market=m, side=side, order_type="market", size=self.sz(m, n),
                  reduce_only=reduce_only)

    @rule(a=accts, m=markets, side=sides, n=lots, off=st.integers(-800, 800),
          kind=st.sampled_from(("stop_loss", "take_profit")))
    def trigger_order(self, a, m, side, n, off, kind):
        self.send("place_order", account=a, market=m, side=side, order_type=kind, size=self.sz(m, n),
                  trigger_price=self.px(m, off))

    @precondition(lambda self: any(p.size for a in self.e.accounts.values() for p in a.positions.values()))
    @rule(data=st.data(), kind=st.sampled_from(("stop_loss", "take_profit")), dist=st.integers(50, 900))
    def protect(self, data, kind, dist):
        """A stop-loss or take-profit on an existing position, a few percent away from mark."""
        held = sorted((a.name, m) for a in self.e.accounts.values() for m, p in a.positions.items() if p.size)
        a, m = data.draw(st.sampled_from(held))
        long = self.e.accounts[a].positions[m].size > 0
        # a long's stop is below mark, its take-profit above; a short's the other way round
        below = (kind == "stop_loss") == long
        n = abs(self.e.accounts[a].positions[m].size) // self.e.markets[m].lot
        self.send("place_order", account=a, market=m, side="sell" if long else "buy", order_type=kind,
                  size=self.sz(m, n), trigger_price=self.px(m, -dist if below else dist))

    @rule(a=accts, m=markets, side=sides, off=bps)
    def make_position(self, a, m, side, off):
        """A resting order from one account and an opposite taker from another: positions appear."""
        other = ACCTS[(ACCTS.index(a) + 1) % len(ACCTS)]
        n = 50 if m == BTC else 20
        price = self.px(m, max(-400, min(400, off // 2)))
        self.send("place_order", account=other, market=m, side="sell" if side == "buy" else "buy",
                  size=self.sz(m, n), price=price)
        self.send("place_order", account=a, market=m, side=side, size=self.sz(m, n), price=price)

    @rule(a=accts, m=markets, side=sides, lev=st.integers(2, 48))
    def leveraged_position(self, a, m, side, lev):
        """Open risk close to the maximum leverage, so that price shocks liquidate."""
        mk = self.e.markets[m]
        value = self.e.margins(a)["value"]
        if value <= 0 or not mk.mark_price:
            return
        lev = min(lev, 19) if m == SOL else lev
        size = value * lev * 10**8 // mk.mark_price
        n = size // mk.lot
        if n <= 0:
            return
        other = ACCTS[(ACCTS.index(a) + 2) % len(ACCTS)]
        price = self.px(m, 0)
        self.send("place_order", account=other, market=m, side="sell" if side == "buy" else "buy",
                  size=self.sz(m, n), price=price)
        self.send("place_order", account=a, market=m, side=side, size=self.sz(m, n), price=price,
                  time_in_force="ioc")

    @rule(a=accts, m=markets, side=sides, lev=st.integers(10, 48), edge=st.integers(300, 500),
          how=st.sampled_from(("limit", "reduce_only", "market_reduce_only", "flip")))
    def collude(self, a, m, side, lev, edge, how):
        """A colluding pair: one account rests a far-off bid/ask near the band edge, the other opens a
        leveraged position and closes (or flips) it into that order. Nobody may end past bankruptcy."""
        self.leveraged_position(a, m, side, lev)
        pos = self.e.accounts[a].positions.get(m)
        if pos is None or not pos.size:
            return
        long = pos.size > 0
        held = abs(pos.size) // self.e.markets[m].lot
        colluder = ACCTS[(ACCTS.index(a) + 3) % len(ACCTS)]
        n = 2 * held if how == "flip" else held
        close = "sell" if long else "buy"
        price = self.px(m, -edge if long else edge)
        self.send("place_order", account=colluder, market=m, side="buy" if long else "sell", size=self.sz(m, n),
                  price=price)
        if how == "market_reduce_only":
            evs = self.send("place_order", account=a, market=m, side=close, order_type="market", size=self.sz(m, n),
                            reduce_only=True)
        else:
            evs = self.send("place_order", account=a, market=m, side=close, size=self.sz(m, n), price=price,
                            time_in_force="ioc", reduce_only=how == "reduce_only")
        if any(ev["type"] == "trade" and ev["taker_account"] == a for ev in evs):
            assert account_value(self.e.accounts[a], self.e.markets) >= 0, evs

    @rule(a=accts, b=accts, m=markets, up=st.booleans(), deep=st.integers(50, 3000))
    def one_lot_push(self, a, b, m, up, deep):
        """A thin-book mark push: deep orders at the band edge and one lot just inside them, then time
        passes. The mark may follow real depth only through its smoothed impact basis, and whatever it
        does, every check (solvency, conservation) holds and nobody escapes or is wrongly liquidated."""
        edge = 490 if up else -490
        self.send("place_order", account=a, market=m, side="sell" if up else "buy", size=self.sz(m, deep),
                  price=self.px(m, edge))
        self.send("place_order", account=b, market=m, side="buy" if up else "sell", size=self.sz(m, 1),
                  price=self.px(m, edge - 1 if up else edge + 1))
        self.tick(60_000)

    @rule(a=accts, m=markets, what=st.sampled_from(("deposit", "oracle", "size", "ts", "credit")))
    def huge_value(self, a, m, what):
        """Values past what the state can encode: each a clear refusal or an encodable result."""
        if what == "deposit":
            self.send("deposit", account=a, amount="20000000000000")
        elif what == "oracle":
            self.send("oracle_price", market=m, price="100000000000000", source="feed-a")
        elif what == "size":
            self.send("place_order", account=a, market=m, side="buy", size="200000000000",
                      price=self.px(m, -100))
        elif what == "credit":
            self.send("credit", account=a, amount="90000000000000", refund_id=f"huge-{self.coid_n}",
                      fund="treasury", operator="oncall", reason="test")
            self.coid_n += 1
        else:
            evs = self.send("tick", ts=10**15)
            assert [ev["type"] for ev in evs] == ["rejected"], evs
        encode(self.e)  # never un-encodable

    @rule(a=accts, m=markets, side=sides, n=lots, off=st.integers(1, 300))
    def liquidity(self, a, m, side, n, off):
        """A resting order away from mark: depth for market orders, triggers and liquidations."""
        self.send("place_order", account=a, market=m, side=side, size=self.sz(m, n),
                  price=self.px(m, -off if side == "buy" else off))

    @precondition(lambda self: self.e.orders)
    @rule(data=st.data(), by_coid=st.booleans())
    def cancel(self, data, by_coid):
        oid = data.draw(st.sampled_from(sorted(self.e.orders)))
        o = self.e.orders[oid]
        if by_coid and o.client_order_id is not None:
            self.send("cancel_order", account=o.account, client_order_id=o.client_order_id)
        else:
            self.send("cancel_order", account=o.account, order_id=oid)

    @rule(a=accts, m=opt_market)
    def cancel_all(self, a, m):
        self.send("cancel_all", account=a, **({"market": m} if m else {}))

    @rule(a=accts, m=markets, go=rarely)
    def bad_order(self, a, m, go):
        if go:
            return
        evs = self.send("place_order", account=a, market=m, side="buy", size=0.5, price=self.px(m, 0))
        assert evs[0]["code"] == "float_not_allowed"

    # ---- market data ------------------------------------------------------------
    @rule(dt=st.sampled_from((0, 1_000, 60_000, 3_600_000, 8 * 3_600_000)))
    def tick(self, dt):
        self.v.ts += dt
        self.send("tick")

    @rule(m=markets, move=st.one_of(st.integers(-100, 100), st.integers(-2500, 2500)),
          confirm=st.sampled_from((False, True, True)), late=st.sampled_from((None, None, None, 500, 60_000)))
    def oracle(self, m, move, confirm=True, late=None):
        """An oracle price; ``confirm``: a second source reports it too; ``late``: published that long ago."""
        mk = self.e.markets[m]
        p = mk.index_price * (10_000 + move) // 10_000
        p -= p % mk.tick
        self.v.ts += 1
        kw = {} if late is None else {"publish_ts": max(0, self.v.ts - late)}
        price = fmt_price(max(p, mk.tick))
        evs = self.send("oracle_price", market=m, price=price, source="feed-a", **kw)
        if any(ev["type"] == "oracle_rejected" for ev in evs):
            assert self.e.safeguards and mk.flags
            if confirm:
                self.send("oracle_price", market=m, price=price, source="feed-b")

    @rule(m=markets, down=st.booleans(), size=st.integers(400, 2500), confirm=st.booleans())
    def shock(self, m, down, size, confirm):
        """A price shock well beyond the margin of a leveraged account."""
        self.oracle(m, -size if down else size, confirm)

    @rule(m=markets, price=st.sampled_from(("0", "-1")))
    def bad_oracle(self, m, price):
        before = state_hash(self.e)
        evs = self.send("oracle_price", market=m, price=price, source="feed-a")
        if self.e.safeguards and price == "0":
            assert evs[0]["type"] == "oracle_rejected" and evs[0]["code"] == "non_positive"
            assert "oracle_rejected" in self.e.markets[m].flags
        else:
            assert [ev["type"] for ev in evs] == ["rejected"]
            assert state_hash(self.e) == before

    @rule(m=markets, kind=st.sampled_from(("zero_mark", "far_mark", "funding_jump")))
    def bad_market_state(self, m, kind):
        """Corrupt market data written back from outside: quarantined while the guard rails are on."""
        if not self.e.safeguards:
            return  # without them it would be applied, and the checks (rightly) fail
        mk = self.e.markets[m]
        mark, fidx = mk.mark_price, mk.funding_index
        if kind == "zero_mark":
            mark = 0
        elif kind == "far_mark":
            mark = mk.index_price * 2 - mk.index_price * 2 % mk.tick
        else:
            fidx = fidx - mk.index_price * 10**6 if fidx > 0 else fidx + mk.index_price * 10**6  # a whole price
        before = (mk.mark_price, mk.funding_index, mk.quarantined)
        evs = self.send("load_market_state", market=m, mark_price=fmt_price(mark), funding_index=fmt_funding(fidx))
        assert evs[0]["type"] == "market_data_quarantined", evs  # (then whoever is due is evaluated, as always)
        assert not any(ev["type"] == "market_state_loaded" for ev in evs)
        assert (mk.mark_price, mk.funding_index, mk.quarantined) == (before[0], before[1], before[2] + 1)

    @rule(go=rarely)
    def toggle_safeguards(self, go):
        if go:
            return
        self.send("set_safeguards", enabled=not self.e.safeguards, operator="op", reason="fuzz")
        if not self.e.safeguards:
            assert not any(mk.flags or mk.oracle_pending for mk in self.e.markets.values())

    @rule(m=markets, accounts=st.sampled_from((0, 1, 3, 500)), share=st.sampled_from(("0", "0.1", "0.25", "1")),
          stale=st.sampled_from((1_000, 30_000, 3_600_000)), go=st.integers(0, 3))
    def market_params(self, m, accounts, share, stale, go):
        if go:
            return
        self.send("set_market_params", market=m, breaker_accounts=accounts, breaker_oi_share=share,
                  oracle_stale_ms=stale, operator="op", reason="fuzz")

    @rule(m=markets, off=st.integers(-300, 300), f=st.integers(-10**9, 10**9))
    def load_market_state(self, m, off, f):
        mk = self.e.markets[m]
        mark = mk.index_price * (10_000 + off) // 10_000  # sane data: within the band around index
        mark -= mark % mk.tick
        self.send("load_market_state", market=m, mark_price=fmt_price(mark),
                  funding_index=fmt_funding(mk.funding_index + f * 10**6))

    # ---- operators -----------------------------------------------------------------
    @rule(m=markets, mode=st.sampled_from(MODES), go=rarely)
    def set_mode(self, m, mode, go):
        if go:
            return
        self.send("set_market_mode", market=m, mode=mode, operator="op", reason="fuzz")

    @rule(kind=st.sampled_from(("pause_liquidations", "resume_liquidations", "pause_triggers", "resume_triggers")),
          m=opt_market, go=st.integers(0, 3))
    def pause_resume(self, kind, m, go):
        if go and kind.startswith("pause"):
            return
        self.send(kind, operator="op", reason="fuzz", **({"market": m} if m else {}))

    @rule(go=rarely)
    def brake(self, go):
        if go:
            return
        preview = self.e.brake_preview()
        h = state_hash(self.e)
        assert self.e.brake_preview() == preview and state_hash(self.e) == h
        evs = self.send("emergency_brake", operator="op", reason="fuzz")
        if evs[0]["type"] != "rejected":
            eng = [ev for ev in evs if ev["type"] == "brake_engaged"][0]
            assert eng["canceled_orders"] == preview["canceled_orders"]
            assert eng["kept_tpsl"] == preview["kept_tpsl"]
            assert sum(1 for ev in evs if ev["type"] == "order_canceled") == preview["canceled_orders"]
            assert all(o.order_type in ("stop_loss", "take_profit") for o in self.e.orders.values())

    @rule(override=st.booleans())
    def release(self, override):
        evs = self.send("release_brake", operator="op", reason="fuzz", override=override)
        if evs[0]["type"] != "rejected":
            assert all(mk.mode in ("post_only", "reduce_only") for mk in self.e.markets.values())

    @rule(enabled=st.booleans(), go=rarely)
    def access(self, enabled, go):
        if go:
            return
        self.send("set_platform_access", enabled=enabled, operator="op", reason="fuzz")

    @rule(amount=st.sampled_from(("10", "5000")))
    def fund_insurance(self, amount):
        self.send("fund_insurance", amount=amount, operator="op", reason="fuzz")

    @rule(a=accts, fund=st.sampled_from(("insurance", "treasury")), rid=st.integers(0, 5))
    def credit(self, a, fund, rid):
        self.send("credit", account=a, amount="3", refund_id=f"r{rid}", fund=fund, operator="op", reason="fuzz")

    @rule()
    def snapshot(self):
        evs = self.send("take_snapshot", label="fuzz", operator="op", reason="fuzz")
        snap = evs[0]
        assert snap["state_hash"] == state_hash(self.e)
        self.snapshot_ids.append(snap["snapshot_id"])

    @precondition(lambda self: self.snapshot_ids)
    @rule(data=st.data())
    def rollback(self, data):
        sid = data.draw(st.sampled_from(self.snapshot_ids))
        snap = self.e.snapshots[sid]
        state = decode(snap.data)
        controls_same = _controls(self.e) == _controls_of_state(state)
        e = self.e
        kept = (e.deposits, e.withdrawals, e.treasury_in, e.fund_in, e.fund_paid, dict(e.credits))
        flows = {n: a.flow for n, a in e.accounts.items()}
        no_flow_since = kept[:5] == tuple(state[k] for k in ("deposits", "withdrawals", "treasury_in", "fund_in",
                                                             "fund_paid"))
        evs = self.send("rollback", snapshot_id=sid, operator="op", reason="fuzz")
        if evs[0]["type"] == "rejected":  # re-applying the money that left would leave debt nobody covers
            assert evs[0]["code"] == "rollback_uncovered" and not no_flow_since
            return
        assert evs[0]["type"] == "rolled_back"
        # the money that crossed the edge after the snapshot stays where it went: totals, paid refunds
        # and every account's edge flow are what they were; each account's cash is the snapshot's plus
        # what crossed its edge since (plus any debt the fund covered)
        assert (e.deposits, e.withdrawals, e.treasury_in, e.fund_in, e.fund_paid, e.credits) == kept
        assert {n: a.flow for n, a in e.accounts.items()} == flows
        reapplied = [ev for ev in evs if ev["type"] == "edge_flows_reapplied"]
        covered = {d["account"]: d["amount"] for d in (reapplied[0]["bad_debt"] if reapplied else [])}
        for n, a in e.accounts.items():
            row = state["accounts"].get(n)
            assert a.cash == (row[0] if row else 0) + flows[n] - (row[2] if row else 0) + covered.get(n, 0)
        assert e.withdrawals <= e.deposits + e.treasury_in  # money out never exceeds money in
        assert all(a.cash >= 0 for a in e.accounts.values() if not any(p.size for p in a.positions.values()))
        if controls_same and no_flow_since:
            assert state_hash(self.e) == snap.state_hash

    @rule(go=rarely)
    def stale_command(self, go):
        if go:
            return
        if self.v.ts == 0:
            return
        before = state_hash(self.e)
        evs = self.v.apply({"type": "tick", "ts": self.v.ts - 1})
        assert [ev["code"] for ev in evs] == ["ts_backwards"]
        assert state_hash(self.e) == before
        if self.shadow is not None:
            self.shadow.apply_obj({"type": "tick", "ts": self.v.ts - 1})

    @rule()
    def fork(self):
        """Snapshot -> decode -> restore into a fresh engine; it must then follow the original exactly."""
        data = encode(self.e)
        shadow = Engine()
        restore(shadow, decode(data, expect_hash=state_hash(self.e)))
        shadow.seq, shadow.now = self.e.seq, self.e.now
        shadow.snapshots = dict(self.e.snapshots)
        assert state_hash(shadow) == state_hash(self.e)
        self.shadow = shadow

    @invariant()
    def margin_caches_agree_with_a_fresh_computation(self):
        # the engine's per-account (value, IM) cache and the per-position requirement caches are
        # derived data: whatever their history, they give what a computation from scratch gives
        from engine.core.margin import requirement

        e = self.e
        for a in e.accounts.values():
            c = a.mcache
            if c is not None and c[0] == e.mark_epoch:
                fresh = account_margins(a, e.markets)
                assert (c[1], c[2]) == fresh[:2], a.name
            for m, pos in a.positions.items():
                mk = e.markets[m]
                worst = max(abs(pos.size + pos.open_buy), abs(pos.size - pos.open_sell))
                if pos.im_worst == worst and pos.im_mark == mk.mark_price and pos.im_frac == mk.imf:
                    assert pos.im_req == requirement(worst, mk.mark_price, mk.imf)

    @invariant()
    def money_out_never_exceeds_money_in(self):
        e = self.e
        assert e.withdrawals <= e.deposits + e.treasury_in
        assert e.insurance_fund >= 0 and e.fee_pool >= 0

    # ---- end of a run -------------------------------------------------------------
    @invariant()
    def seq_counts_commands(self):
        assert self.e.seq == len(self.v.journal)

    def teardown(self):
        fresh = Engine()
        for obj in self.v.journal:
            fresh.apply_obj(obj)
        assert state_hash(fresh) == state_hash(self.e), "replaying the journal gave a different state"


def _controls(e) -> tuple:
    return (e.platform_access, e.brake_engaged, e.liquidations_paused, e.triggers_paused, e.safeguards,
            tuple((m, mk.mode, mk.liquidations_paused, mk.triggers_paused, mk.flags, mk.post_only_band,
                   mk.oracle_band, mk.oracle_stale_ms, mk.breaker_accounts, mk.breaker_oi_share)
                  for m, mk in e.markets.items()))


def _controls_of_state(s: dict) -> tuple:
    return (s["platform_access"], s["brake_engaged"], s["liquidations_paused"], s["triggers_paused"], s["safeguards"],
            tuple((r[0], r[10], r[19], r[20], r[25], r[9], r[21], r[22], r[23], r[24]) for r in s["markets"]))


class EngineMachineWithoutSafeguards(EngineMachine):
    SAFEGUARDS = False


EngineMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=60, deadline=None)
EngineMachineWithoutSafeguards.TestCase.settings = settings(max_examples=40, stateful_step_count=60, deadline=None)
TestEngineMachine = EngineMachine.TestCase
TestEngineMachineWithoutSafeguards = EngineMachineWithoutSafeguards.TestCase

