"""The desk: a node, a seeded simulated market, the gateway, the event feed, price feeds and alerts.

``frozen=True`` builds a node on a fake clock and drives a fixed number of
simulator steps synchronously, so two builds with the same seed have the same
state byte for byte (for snapshot tests and screenshots). ``frozen=False``
starts the node's sequencer; the venue service (``engine.venue.service``) runs the simulator live.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine.node.node import Node
from engine.node.roles import SYSTEM, default_actor
from engine.sim.simulator import Simulator

from .feed import Feed
from .gateway import Gateway

#: 2026-01-19 04:58:00 UTC, the morning of the Paradex incident
FROZEN_START_MS = 1_768_798_680_000
STEP_MS = 100


class SimClock:
    """A settable clock in engine milliseconds (for frozen builds and benches)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Desk:
    node: Node
    gateway: Gateway
    feed: Feed
    sim: Simulator
    clock: object
    live: bool
    feeds: object | None = None  # engine.outside.feeds.FeedRunner when the config enables price feeds
    alerts: object | None = None  # engine.outside.alerts.AlertDispatcher when the config lists alert sinks
    fed_markets: frozenset = frozenset()  # markets whose index comes from the feeds, not the simulator

    def start_services(self) -> None:
        """Start the alert workers and the feed poller (live desks)."""
        if self.alerts is not None:
            self.alerts.start()
        if self.feeds is not None:
            self.feeds.start()

    def stop_services(self) -> None:
        if self.feeds is not None:
            self.feeds.stop()
        if self.alerts is not None:
            self.alerts.stop(timeout=3.0)

    def sim_commands(self, cmds: list[dict]) -> list[dict]:
        """The simulator's commands minus its oracle for markets the real feeds price."""
        if not self.fed_markets:
            return cmds
        fed = self.fed_markets
        return [c for c in cmds if not (c["type"] == "oracle_price" and c["market"] in fed)]

    def drive(self, steps: int, *, tick_every: int = 10) -> int:
        """Run ``steps`` simulator steps synchronously on a frozen desk; returns commands sent."""
        clock = self.clock
        n = 0
        for i in range(steps):
            clock.now += STEP_MS
            for cmd in self.sim_commands(self.sim.step(clock.now)):
                self.node.call(cmd, actor=SYSTEM)
                n += 1
            if i % tick_every == tick_every - 1:
                self.node.call({"type": "tick", "ts": clock.now}, actor=SYSTEM)
                n += 1
        return n

    def run_market(self, stop, *, speed: float = 1.0, steps_per_batch: int = 1, on_rate=None) -> None:
        """Run the simulated market live until ``stop`` (a threading.Event-like) is set.

        One step is 100 ms of market time; ``speed`` > 1 runs faster than real time. The market never
        runs ahead of the sequencer: it waits for the last command of each batch to be acknowledged.
        ``on_rate(steps, commands, rate)`` is called about twice a second."""
        sim, node = self.sim, self.node
        steps = cmds = 0
        t0 = time.perf_counter()
        last_post = t0
        step_s = 0.1 / max(speed, 1e-6)
        while not stop.is_set():
            started = time.perf_counter()
            fut = None
            for _ in range(steps_per_batch):
                for cmd in self.sim_commands(sim.step()):
                    fut = node.submit(cmd, actor=SYSTEM)
                    cmds += 1
                steps += 1
                if steps % 10 == 0:
                    fut = node.submit({"type": "tick"}, actor=SYSTEM)
                    cmds += 1
            if fut is not None:
                try:
                    fut.result(timeout=10)  # back-pressure: never run ahead of the sequencer
                except Exception:
                    return
            now = time.perf_counter()
            if on_rate is not None and now - last_post > 0.5:
                on_rate(steps, cmds, cmds / (now - t0))
                last_post = now
            pause = step_s * steps_per_batch - (now - started)
            if pause > 0:
                stop.wait(pause)

    def system(self, cmd: dict) -> None:
        """Send a command as the venue's own services (market data, setup)."""
        if self.live:
            cmd = {k: v for k, v in cmd.items() if k != "ts"}
        else:
            cmd.setdefault("ts", self.clock.now)
        self.node.call(cmd, actor=SYSTEM)


#: journal rows replayed at start to rebuild the liquidations feed, alerts and account history
HISTORY_COMMANDS = 50_000


def seed_feed(feed: Feed, node, now: int, max_commands: int = HISTORY_COMMANDS) -> None:
    """A restarted console remembers the incident: the recent liquidations and alerts (rolled-back
    entries marked) and the downtime, re-derived from the journal (a failure only loses the history)."""
    from .feed import HISTORY_EVENTS

    try:
        feed.seed(node.history(max_commands, types=HISTORY_EVENTS), now)
    except Exception:  # pragma: no cover - the venue still starts; the screens say nothing was rebuilt
        import logging

        logging.getLogger("perpdesk.venue").exception("rebuilding the history from the journal failed")


def leveraged_pairs(desk: Desk, pairs: int, market: str = "BTC-USD-PERP", price: str | None = None,
                    size: str = "0.5", collateral: str = "1500", prefix: str = "lev", start: int = 0) -> None:
    """Open ``pairs`` long/short pairs of highly leveraged accounts against each other (at the mark):
    ``{prefix}{n:04d}L`` / ``S`` for n from ``start``."""
    if price is None:
        from engine.core.fixedpoint import fmt_price

        mark = next(m["mark_price"] for m in desk.gateway.markets() if m["market"] == market)
        price = fmt_price(mark)
    for i in range(start, start + pairs):
        lo, sh = f"{prefix}{i:04d}L", f"{prefix}{i:04d}S"
        desk.system({"type": "deposit", "account": lo, "amount": collateral})
        desk.system({"type": "deposit", "account": sh, "amount": collateral})
        desk.system({"type": "place_order", "account": sh, "market": market, "side": "sell", "size": size,
                     "price": price, "post_only": False})
        desk.system({"type": "place_order", "account": lo, "market": market, "side": "buy", "size": size,
                     "price": price})


def live_leveraged_ladder(desk: Desk, pairs: int = 40) -> None:
    """The live sandbox's thin-margin traders: 40 long/short pairs of 0.5 BTC whose collateral steps from
    1,000 to 1,975 USDC (liquidated 1.1% to 3.1% away), so a calm market (55% a year) liquidates a few an
    hour, one rung at a time, rather than all forty at once. The ladder's 20 BTC a side dwarfs the
    makers' depth (about 0.5 BTC a side within the band): a fast slide empties the bid side and a rung
    that went bankrupt meanwhile is auto-deleveraged (the fund pays its deficit; see build_desk)."""
    for i in range(pairs):
        leveraged_pairs(desk, 1, collateral=str(1000 + 25 * i), start=i)


def oracle_shock(desk: Desk, market: str, bps: int) -> None:
    """Move the simulator's oracle for ``market`` by ``bps`` (negative: down) and publish it."""
    for mk in desk.sim.markets:
        if mk.name == market:
            mk.price = (mk.price * (10_000 + bps) // 10_000) // mk.tick * mk.tick
            from engine.core.fixedpoint import fmt_price

            desk.system({"type": "oracle_price", "market": market, "price": fmt_price(mk.price), "source": "sim"})


def attach_outside(desk: Desk, config, *, feed_client=None, alert_client=None, sleep=None) -> None:
    """Wire the configured price feeds and alert sinks to ``desk`` (nothing is started here).

    Feeds: a :class:`~engine.outside.feeds.FeedRunner` submits the index as the ``system`` actor, the
    simulator stops publishing its own oracle for those markets and follows the index instead.
    Alerts: an :class:`~engine.outside.alerts.AlertDispatcher` subscribes to the node, hears the index going
    stale, and records every delivery attempt through the node.
    """
    if config is None:
        return
    node = desk.node
    kw = {"sleep": sleep} if sleep is not None else {}
    if config.alerts.sinks and any(s.enabled for s in config.alerts.sinks):
        from engine.outside.alerts import AlertDispatcher

        desk.alerts = AlertDispatcher.from_config(config.alerts, clock=node.clock, record=node.record_alert_delivery,
                                                  secrets=config.secrets(), client=alert_client, **kw)
        node.subscribe(desk.alerts)
        node.alert_sinks = [{"name": s.name, "kind": s.kind, "min_severity": s.min_severity}
                            for s in config.alerts.sinks if s.enabled]
    if config.feeds.enabled:
        from engine.outside.feeds import FeedRunner

        sim_by_name = {m.name: m for m in desk.sim.markets}
        alerts = desk.alerts

        def on_index(res) -> None:
            smk = sim_by_name.get(res.market)
            if smk is not None and res.price is not None:  # the simulated book quotes around the real index
                smk.price = max(smk.tick, res.price // smk.tick * smk.tick)
            if alerts is not None:
                alerts.on_index(res)

        desk.feeds = FeedRunner.from_config(config.feeds, submit=lambda c: node.submit(c, actor=SYSTEM),
                                            clock=node.clock, client=feed_client, on_index=on_index, **kw)
        node.feed_health_source = desk.feeds.health
        desk.fed_markets = frozenset(config.feeds.markets)


def build_desk(seed: int = 7, accounts: int = 200, *, frozen: bool = True, warmup_steps: int = 600,
               operator: str | None = None, role: str | None = None, db: str | None = "memory",
               incident: bool = True, config=None, outside: dict | None = None, node: Node | None = None) -> Desk:
    """The desk on a new or recovered node (``db``), or around ``node`` (a standby that took over)."""
    actor = default_actor(operator or ("alice" if frozen else None), role or ("admin" if frozen else None))
    clock = SimClock(FROZEN_START_MS) if frozen else (lambda: time.time_ns() // 1_000_000)
    if node is not None:
        clock = node.clock
    elif db == "memory":
        node = Node(clock=clock, actor=actor, db=db)
    else:  # durable: journal, snapshots and audit in the database; a restart resumes where it stopped
        node = Node.open(db, clock=clock, actor=actor)
    feed = Feed(clock)
    node.subscribe(feed)
    sim = Simulator(seed=seed, accounts=accounts)
    desk = Desk(node, Gateway(node), feed, sim, clock, live=not frozen)
    attach_outside(desk, config, **(outside or {}))
    if node.engine.seq:  # an existing venue: follow its prices instead of seeding a new one
        seed_feed(feed, node, clock())
        by_name = {m["market"]: m for m in node.markets()}
        for smk in sim.markets:
            m = by_name.get(smk.name)
            if m and m["index_price"]:
                smk.price = m["index_price"] // smk.tick * smk.tick
        return desk
    t0 = clock()
    for cmd in sim.setup_commands(t0):
        if not frozen:
            cmd.pop("ts", None)
        node.call(cmd, actor=SYSTEM)
    node.call({"type": "take_snapshot", "label": "venue opened", "trigger": "auto",
               "reason": "startup", **({"ts": t0} if frozen else {})}, actor=SYSTEM)
    if not frozen and incident:
        live_leveraged_ladder(desk)
    if frozen:
        desk.drive(warmup_steps // 2)
        if incident:
            desk.system({"type": "take_snapshot", "label": "pre-maintenance 04:59", "trigger": "maintenance",
                         "reason": "scheduled"})
            live_leveraged_ladder(desk)
        desk.drive(warmup_steps - warmup_steps // 2 - 20)
        if incident:
            # a -2.4% slide in four steps: the ladder's thinnest rungs are liquidated a few at a time (one
            # -2.4% jump would cut the forty pairs, most of the long open interest, in one evaluation and
            # trip the circuit breaker instead). What it gives (seed 7): 10 liquidation events on 8 longs,
            # 8 on the book and 2 auto-deleveraged (lev0000L 0.3 BTC and lev0004L 0.214 BTC, at the mark,
            # against lev0000S / lev0001S). That ADL is the engine's rule, not a bug: the makers quote about
            # 0.5 BTC a side and the first rungs take every bid in the band; lev0000L, in its 30 s cooldown
            # after a 20% step, is bankrupt (value -5.65 USDC) when it comes back and finds no bid at all.
            # The fund (2.0M USDC) pays the deficit (5.65 + 0.17 USDC) but cannot take the position over:
            # its backstop closes on the book at once, and the book is empty. A thin book, not an empty fund
            # (dYdX v4 deleverages a negative-equity subaccount its liquidation order cannot fill, too).
            for _ in range(4):
                oracle_shock(desk, "BTC-USD-PERP", -60)
                desk.drive(5)
        else:
            desk.drive(20)
    return desk
