"""One venue process of a failover drill (bench/bench_failover.py, tests/node/test_standby.py).

    python -m bench.failover_worker URL [--acks]

It runs a standby on URL (engine/node/standby.py); on an empty database with no leader it takes the
lease at once. Once leader it seeds the venue if it is empty, then runs a steady load: commands
submitted and acknowledged one by one (orders that cross now and then, and cancels), until "stop"
on stdin. stdout, one JSON object a line, ``t`` on the system-wide monotonic clock:

    {"ev": "following", "seq": N, "t": ...}          the standby verified the database and follows it
    {"ev": "leader", "epoch": E, "seq": N, "t": ...}  it took over
    {"ev": "served", "seq": S, "t": ...}              the first command it acknowledged as leader
    {"ev": "ack", "seq": S, "type": T, "cid": "..."}  every acknowledged command (with --acks)
    {"ev": "state", "seq": S, "hash": "..."}          after "stop": its engine's seq and state hash
"""

from __future__ import annotations

import os
import sys
import threading
import time

import orjson


def out(obj: dict) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def command(i: int, tag: str) -> dict:
    """Command ``i`` of the load (its client order id is unique per worker)."""
    acct = "alice" if i % 3 else "bob"
    if i % 4 == 3:
        return {"type": "cancel_order", "account": acct, "client_order_id": f"{tag}-{i - 2}"}
    side = "buy" if i % 2 else "sell"
    px = 97000 + (i * 37) % 200 - (100 if side == "buy" else 0)
    return {"type": "place_order", "account": acct, "market": "BTC-USD-PERP", "side": side, "size": "0.001",
            "price": str(px), "client_order_id": f"{tag}-{i}"}


def seed(node) -> None:
    from engine.core.markets import default_market_commands
    from engine.node.roles import SYSTEM, Actor

    admin = Actor("drill", "admin")
    if node.engine.markets:
        return
    for c in default_market_commands(1):
        node.call(c, actor=admin)
    node.call({"type": "fund_insurance", "amount": "100000"}, actor=admin)
    for name in ("alice", "bob"):
        node.call({"type": "deposit", "account": name, "amount": "1000000"}, actor=SYSTEM)


def main(argv: list[str]) -> int:
    from engine.node.roles import SYSTEM
    from engine.node.standby import Standby

    url = argv[0]
    acks = "--acks" in argv
    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    sb = Standby(url, snapshot_every=int(os.environ.get("DRILL_SNAPSHOT_EVERY", "2000")), writer_process=False)
    sb.open()
    out({"ev": "following", "seq": sb.seq, "t": time.monotonic()})
    node = sb.run(lambda n: out({"ev": "leader", "epoch": n.leader_epoch, "seq": n.engine.seq,
                                 "t": time.monotonic()}))
    if node is None:
        return 1
    try:
        seed(node)
        tag = f"e{node.leader_epoch}"
        i = 0
        first = True
        while not stop.is_set():
            cmd = command(i, tag)
            r = node.call(cmd, actor=SYSTEM)
            if first:
                out({"ev": "served", "seq": r.seq, "t": time.monotonic()})
                first = False
            if acks:
                out({"ev": "ack", "seq": r.seq, "type": cmd["type"], "cid": cmd["client_order_id"]})
            i += 1
        seq, h = node.read(lambda e: (e.seq, e.state_hash()))
        out({"ev": "state", "seq": seq, "hash": h})
    finally:
        node.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
