"""The timeline's faults and market moves: what goes wrong in the world the venue runs in.

Each ``_do_ACTION(entry)`` of :class:`FaultActions` injects one fault (corrupted market data, a
stale or frozen oracle, thin books, a node crash) or moves the simulated market (participants,
price moves), and ``_expire`` ends the timed ones. A fault's commands are tagged with its id so a
refund computation can name them as the bad inputs. ``ScenarioRun`` (:mod:`engine.sim.runner`)
mixes these in.
"""

from __future__ import annotations

from collections import Counter

from ..core.fixedpoint import fmt_price, fmt_size
from ..core.snapshot import state_hash
from ..node.node import Node
from ..node.roles import SYSTEM
from .actions import ONCALL, markets_of
from .report import fmt_duration


class FaultActions:
    """Faults and market moves, mixed into ScenarioRun (which provides ``_system``, ``sim``, ``clock``...)."""

    def _expire(self, t: int) -> None:
        sim = self.sim
        assert sim is not None
        keep = []
        for ts, kind, market, fid in self._expiries:
            if ts > t:
                keep.append((ts, kind, market, fid))
                continue
            if kind == "oracle":
                sim.oracle_override.pop(market, None)
                self._oracle_tags.pop(market, None)
            elif kind == "frozen":
                sim.oracle_frozen.discard(market)
            elif kind == "makers":
                sim.makers_active = True
        self._expiries = keep

    def _do_participants(self, e) -> list[str]:
        sim = self.sim
        assert sim is not None
        if e.makers is not None:
            sim.makers_active = e.makers
        if e.takers is not None:
            sim.takers_active = e.takers
        return []

    def _do_price_move(self, e) -> list[str]:
        sim = self.sim
        assert sim is not None
        for mk in sim.markets:
            if mk.name in markets_of(self.sc, e.markets):
                mk.price = max(mk.tick, mk.price * (10_000 + e.bps) // 10_000 // mk.tick * mk.tick)
        return []

    def _fid(self, e) -> str:
        return e.id or f"fault{self.sc.timeline.index(e)}"

    def _do_corrupt_market_state(self, e) -> list[str]:
        node = self.node
        assert node is not None
        cmds = []
        for m in markets_of(self.sc, e.markets):
            mark = e.mark_price if e.mark_price is not None else fmt_price(node.engine.markets[m].mark_price)
            cmds.append({"type": "load_market_state", "ts": self.clock.now, "market": m, "mark_price": mark,
                         "funding_index": e.funding_index, "source": e.source})
        res = self._system(cmds, tag=self._fid(e))
        return [f"{c['market']}: {self._result_text(r)}" for c, r in zip(cmds, res, strict=True) if not r.ok]

    def _do_stale_oracle(self, e) -> list[str]:
        sim = self.sim
        assert sim is not None
        until = self.clock.now + self.sc.offset(e.duration)
        lag = self.sc.offset(e.lag)
        for m in markets_of(self.sc, e.markets):
            sim.oracle_override[m] = (e.offset_bps, lag)
            self._oracle_tags[m] = self._fid(e)
            self._expiries.append((until, "oracle", m, self._fid(e)))
        return [f"oracles publish {e.offset_bps:+d} bps off, {lag // 1000}s old, until +{self.sc.offset(e.duration) // 1000}s"]

    def _do_freeze_oracle(self, e) -> list[str]:
        sim = self.sim
        assert sim is not None
        until = self.clock.now + self.sc.offset(e.duration)
        for m in markets_of(self.sc, e.markets):
            sim.oracle_frozen.add(m)
            self._expiries.append((until, "frozen", m, self._fid(e)))
        return []

    def _do_thin_book(self, e) -> list[str]:
        sim, node = self.sim, self.node
        assert sim is not None and node is not None
        sim.makers_active = False
        self._expiries.append((self.clock.now + self.sc.offset(e.duration), "makers", "", self._fid(e)))
        acct = "thin-mm"
        # the makers are not back: their quotes are pulled, the books are empty
        cmds: list[dict] = [{"type": "cancel_all", "ts": self.clock.now, "account": f"mm{i}", "market": m}
                            for m in markets_of(self.sc, e.markets) for i in range(sim.makers)]
        cmds.append({"type": "deposit", "ts": self.clock.now, "account": acct, "amount": "1000000"})
        n_pull = len(cmds) - 1
        for mk in sim.markets:
            if mk.name not in markets_of(self.sc, e.markets):
                continue
            ref = mk.published or mk.price
            qty = fmt_size(mk.lot * e.size_lots)
            for side, bps in (("buy", e.bid_bps), ("sell", e.ask_bps)):
                px = ref * (10_000 + bps) // 10_000 // mk.tick * mk.tick
                cmds.append({"type": "place_order", "ts": self.clock.now, "account": acct, "market": mk.name,
                             "side": side, "size": qty, "price": fmt_price(px), "post_only": True})
        res = self._system(cmds)[n_pull + 1:]
        # the fault's bad commands are the far-off orders (a counterfactual replays them away)
        self._seqs.setdefault(self._fid(e), []).extend(r.seq for r in res)
        refused = Counter(r.code for r in res if not r.ok)
        out = [f"makers pulled their quotes; {sum(1 for r in res if r.ok)} of {len(res)} far-off post-only "
               "orders rest on the empty books"]
        if refused:
            out.append("refused: " + ", ".join(f"{c} x{n}" for c, n in sorted(refused.items())))
        return out

    def _do_node_crash(self, e) -> list[str]:
        node = self.node
        if node is None:
            return ["the node is already down"]
        if self.db is None:
            return ["refused: this scenario's node is not durable (set [scenario] durable = true)"]
        eng = node.engine
        self._crash = {"acked_seq": eng.seq, "acked_hash": state_hash(eng), "ts": self.clock.now}
        # commands in flight when the power goes: queued, never journaled, never acknowledged
        sim = self.sim
        assert sim is not None
        inflight = [c for c in sim.step(self.clock.now) if c["type"] != "oracle_price"][:20]
        for c in inflight:
            node.submit(c, SYSTEM)
        self._crash["unacknowledged"] = len(inflight)
        self._abandoned.append(node)  # no close, no final snapshot: abandoned as a dead process would be
        node.release_lease()  # a dead process's lock on the database goes with it (engine/store/lease.py)
        self.node = None
        return [f"node down at seq {eng.seq}; {len(inflight)} commands in flight were never acknowledged"]

    def _do_recover(self, e) -> list[str]:
        if self.node is not None:
            return ["the node is up"]
        if self.db is None or self._crash is None:
            return ["not available: nothing to recover"]
        node = Node.open(self.db, clock=self.clock, actor=ONCALL)
        node.subscribe(self._on_events)
        for fn in self._subscribers:
            node.subscribe(fn)
        self.node = node
        eng = node.engine
        c = self._crash
        lost = eng.seq != c["acked_seq"] or state_hash(eng) != c["acked_hash"]
        self.recovery = {"acked_seq": c["acked_seq"], "recovered_seq": eng.seq, "nothing_lost": not lost,
                         "unacknowledged_dropped": c["unacknowledged"], "downtime_ms": self.clock.now - c["ts"],
                         "snapshot_used": max((s["seq"] for s in node.snapshots() if s["seq"] <= eng.seq),
                                              default=0)}
        return [f"recovered from snapshot and journal: seq {eng.seq} (acknowledged {c['acked_seq']}), "
                f"state hash {'identical' if not lost else 'DIFFERENT'}; "
                f"down {fmt_duration(self.clock.now - c['ts'])}"]
