"""``perpdesk verify``: check a perpdesk database end to end.

1. the journal and audit hash chains (first bad record of each);
2. a full replay of the journal from an empty engine: every row must land on
   its seq with its journaled outcome, and every stored snapshot's state hash
   must equal the replayed state at that seq;
3. recovery (newest snapshot + journal tail) must reach the same state hash as
   the full replay;
4. the validation checks on the final state.

Exit 0 when everything holds; otherwise 1, naming the first bad record.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ..core import snapshot as snapshot_mod
from ..core.checks import run_checks
from ..core.engine import Engine
from .progress import Progress


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def ok(self, line: str) -> None:
        self.lines.append(f"ok    {line}")

    def bad(self, line: str) -> None:
        self.lines.append(f"FAIL  {line}")
        self.problems.append(line)


def guarantee(store) -> list[str]:
    """Which tamper evidence holds for this database (journal, audit): keyed or not, from where."""
    st = store.key_status()
    out = []
    for chain, label in (("journal", "seq"), ("audit", "id")):
        k = st[chain]
        if k is None:
            out.append(f"{chain} chain unkeyed: recomputation would hide an edit (the chain shows only "
                       f"edits that were not re-hashed)")
        elif k[1] <= 1:
            out.append(f"{chain} chain keyed (key id {k[0]}): an edit cannot be hidden without the key")
        else:
            out.append(f"{chain} chain keyed from {label} {k[1]} (key id {k[0]}): an edit there cannot be "
                       f"hidden without the key; {label} 1..{k[1] - 1} are unkeyed (recomputation would "
                       f"hide an edit there)")
    return out


def verify_store(store, progress: Progress | None = None) -> Report:
    """``progress``: where the rows of each chain and of the replay are reported (default: nowhere)."""
    from ..node.node import Node, RecoveryError, anchor_problem
    from ..store.store import StoreError

    rep = Report()
    prog = progress if progress is not None else Progress(enabled=False)
    try:
        return _verify_store(store, rep, Node, RecoveryError, anchor_problem, prog)
    except StoreError as e:  # a damaged file: name it, never a traceback
        rep.bad(f"reading the database: {e}")
        return rep
    finally:
        prog.close()


def _chain_totals(store) -> dict[str, int | None]:
    """Rows in each chain, for the progress line's time left (None: unknown)."""
    from ..store.store import StoreError, split_head

    totals: dict[str, int | None] = {"journal": None, "audit": None}
    try:
        totals["journal"] = store.count_journal()
        head = store.meta().get("audit_head")
        totals["audit"] = split_head(head)[0] if head else None
    except (StoreError, ValueError):
        pass
    return totals


_REPLAY_EVERY = 4096  # the replay reports its rows every this many (never per row)


def _verify_store(store, rep: Report, Node, RecoveryError, anchor_problem, prog: Progress) -> Report:
    from ..store.store import StoreError

    for line in guarantee(store):
        rep.lines.append(f"note  {line}")
    if store.key is None and (store.key_status()["journal"] or store.key_status()["audit"]):
        rep.bad("the chains are keyed but no journal key is available here: set PERPDESK_JOURNAL_KEY "
                "or restore the key file, then verify again")
    if prog.active:
        totals = _chain_totals(store)
        current = [""]

        def on_rows(chain: str, rows: int) -> None:
            if chain != current[0]:
                current[0] = chain
                prog.phase(f"verify: {chain} chain", totals.get(chain), "rows")
            prog.update(rows)

        chains = store.verify_chains(progress=on_rows)
        prog.phase("verify: replay", totals["journal"], "rows")
    else:
        chains = store.verify_chains()
    for p in chains:
        rep.bad(f"{p.chain} chain: first bad record: {p}")
    if not any(p.chain == "journal" for p in chains):
        rep.ok(f"journal chain: {store.count_journal():,} rows, hashes link")
    if not any(p.chain == "audit" for p in chains):
        rep.ok("audit chain: hashes link")
    anchored = anchor_problem(store)
    if anchored is not None:
        rep.bad(f"acknowledged head: {anchored}")
    elif store.anchor_path is not None and store.anchor_path.exists():
        rep.ok(f"acknowledged head: the journal holds every command its node acknowledged ({store.anchor_path})")
    stored = {i.snapshot_id: i for i in store.list_snapshots()}
    eng = Engine()
    checked = 0
    n = 0
    try:
        for rec in store.iter_journal():
            n += 1
            if not n % _REPLAY_EVERY:
                prog.update(n)
            if rec.seq != eng.seq + 1:
                rep.bad(f"journal seq {rec.seq}: expected seq {eng.seq + 1} (rows missing)")
                break
            try:
                cmd = rec.command
            except Exception as e:  # noqa: BLE001 - any decoding problem is a bad record
                rep.bad(f"journal seq {rec.seq}: payload is not valid JSON ({e})")
                break
            if cmd.get("type") == "rollback":
                sid = cmd.get("snapshot_id")
                if isinstance(sid, str) and sid in stored:
                    try:
                        eng.snapshots[sid] = store.load_snapshot(sid)
                    except StoreError as e:
                        rep.bad(f"journal seq {rec.seq}: rollback needs snapshot {sid}: {e}")
                        break
                elif isinstance(sid, str):
                    eng.snapshots.pop(sid, None)  # pruned from the library of record
            try:
                evs = eng.apply_obj(cmd)
            except Exception as e:  # noqa: BLE001
                rep.bad(f"journal seq {rec.seq}: not a command the engine accepts ({e})")
                break
            outcome = f"rejected:{evs[0]['code']}" if len(evs) == 1 and evs[0]["type"] == "rejected" else "ok"
            if outcome != rec.outcome:
                rep.bad(f"journal seq {rec.seq} ({rec.type}): replays as {outcome!r}, journaled as {rec.outcome!r}")
                break
            for ev in evs:
                if ev["type"] == "snapshot_taken":
                    info = stored.get(ev["snapshot_id"])
                    if info is not None:
                        checked += 1
                        if info.state_hash != ev["state_hash"]:
                            rep.bad(f"snapshot {info.snapshot_id} (seq {info.seq}): stored state hash "
                                    f"{info.state_hash[:16]} != replayed {ev['state_hash'][:16]}")
    except StoreError as e:
        rep.bad(f"reading the journal: {e}")
    try:
        full_hash = snapshot_mod.state_hash(eng)
    except snapshot_mod.SnapshotError as e:  # (typed: StateEncodeError) reported, never a traceback
        rep.bad(f"replayed state at seq {eng.seq}: {e}")
        return rep
    prog.close()
    if not rep.problems:
        rep.ok(f"replay: {n:,} commands from an empty engine, state hash {full_hash}")
        rep.ok(f"snapshots: {checked} of {len(stored)} stored snapshots match the replayed state")
        for sid in stored:
            try:
                store.snapshot_trust(store.load_snapshot(sid))
            except StoreError as e:
                rep.bad(f"snapshot {sid}: {e}")
        node = Node(store=store)
        try:
            node.recover()
            rec_hash = node.engine.state_hash()
            if rec_hash == full_hash:
                rep.ok("recovery (newest snapshot + journal tail) reaches the same state hash")
            else:
                rep.bad(f"recovery reaches state hash {rec_hash[:16]}, the full replay {full_hash[:16]}")
        except RecoveryError as e:
            rep.bad(f"recovery: {e}")
        except Exception as e:  # noqa: BLE001 - reported, never a traceback
            rep.bad(f"recovery failed: {e!r}")
        failures = run_checks(eng)
        for f in failures:
            rep.bad(f"validation check {f.check}: {f.detail}")
        if not failures:
            rep.ok("validation checks: all hold")
    return rep


def run(db: str | None, out=None, err=None, progress: Progress | None = None) -> int:
    """``progress``: where the work is reported as it goes (default: on ``err`` when it is a terminal)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    prog = progress if progress is not None else Progress(err)
    from ..store.store import Store, StoreError

    try:
        store = Store.open(db, create=False)
    except StoreError as e:
        print(f"perpdesk verify: {e}", file=err)
        return 2
    try:
        rep = verify_store(store, prog)
    except Exception as e:  # noqa: BLE001 - a damaged file must never print a traceback
        rep = Report()
        rep.bad(f"the database could not be checked ({type(e).__name__}: {e})")
    finally:
        store.close()
    print(f"perpdesk verify: {store.where}", file=out)
    for line in rep.lines:
        print(f"  {line}", file=out)
    if rep.problems:
        print(f"perpdesk verify: FAILED: {rep.problems[0]}", file=out)
        return 1
    print("perpdesk verify: all checks hold", file=out)
    return 0
