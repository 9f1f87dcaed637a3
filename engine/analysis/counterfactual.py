"""Counterfactual refunds: replay an incident window without its bad inputs and compare.

Pure and deterministic: no I/O, no clock. The node hands in the snapshot and the
journal rows; everything here is integer arithmetic on scratch engines.

**Counterfactual method** (:func:`compute`). The window is the journal after a
snapshot up to ``to_seq``, *as it was executed*: rows a later rollback marked
rolled back are included, because they are what actually happened to the
accounts (a rollback command inside the window is replayed too, restoring the
snapshot it names in both runs). The snapshot is restored into two fresh
engines and the window is replayed twice:

* the **actual** run replays every row as journaled. Each row must reproduce its
  journaled outcome (when the caller knows it) and the caller can compare the
  end state hash with the live engine or a stored snapshot; a replay that
  diverges is refused, never used for money;
* the **counterfactual** run drops the bad seqs, or replaces a bad row with its
  correction (the original command with the corrected fields merged over it; the
  type may not change). Dropped rows still use up their seq, so both runs number
  their events identically.

Valuation uses **one common reference** for both runs: each market's mark price
and funding index at the end of the *counterfactual* run (a market only the
actual run knows is valued at its own end marks). Valuing each run at its own end
marks would make the refund include the price difference between the runs, which
is not money the bad inputs took from the account: when a bad mark is still in
force at ``to_seq`` the actual run's marks are the bad ones, so they cannot be the
reference; the counterfactual's market state is by construction free of the bad
inputs. With a common reference the difference is exactly what the bad inputs
did to the account's ledger: positions closed at bad prices, liquidation fees,
bad debt, funding settled at a bad index::

    V_run(account) = cash + sum_m floor(size_m * mark_m / 1e8)
                          + sum_m floor(-size_m * (funding_index_m - funding_entry_m) / 1e14)
    refund(account) = max(0, V_counterfactual - V_actual)      (integer micro-USDC)

(the engine's own account value, ``margin.account_value``, at the reference
marks.) Accounts that gained from the bad inputs get nothing and are counted in
the summary. Evidence per account: the liquidations, auto-deleverages and fills of
the actual run that the counterfactual run does not have (order ids are ignored
when matching: they are numbered differently once the runs diverge), the
counterfactual's liquidations, both ledgers, the reference prices, the bad inputs
and their corrections, the formula, and the inputs.

**Reference-price method** (:func:`reference_price`), for venues that do not roll
back (Binance, October 2025): per liquidation event in ``(from_seq, to_seq]``, with
``reference`` the market's index price at a chosen later engine time::

    long liquidated (the event's side is "sell"): max(0, floor((reference - price) * size / 1e8))
    short liquidated (side "buy"):                max(0, floor((price - reference) * size / 1e8))

``price`` is the liquidation's average fill price and ``size`` what was closed; an
account's refund is the sum over its liquidations.

Both methods return the same shape: ``{"method", "inputs", "proposals": [{"account",
"amount", "evidence"}], "total", ...}``; ``inputs`` (with a hash of the journal
window) is enough to recompute every number.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace

import orjson

from engine.errors import PerpdeskError

from ..core import guards
from ..core.commands import NotACommand, command_type
from ..core.engine import Engine
from ..core.fixedpoint import SIZE_SCALE, fmt_amount, fmt_funding, fmt_price, fmt_size
from ..core.margin import account_value
from .rollback import restore_scratch

METHOD = "counterfactual"
REFERENCE_METHOD = "reference_price"
#: fills listed per account in the evidence (the count of the rest is given)
MAX_FILLS = 100
FORMULA = (
    "refund = max(0, V_counterfactual - V_actual) in integer micro-USDC, where for each run "
    "V = cash + sum over positions of floor(size x mark_ref / 1e8) "
    "+ floor(-size x (funding_index_ref - funding_entry) / 1e14); mark_ref and funding_index_ref are "
    "the counterfactual run's mark price and funding index of each market at to_seq (the same reference "
    "for both runs, so the refund is what the bad inputs did to the account's ledger, not a price "
    "difference between the runs)"
)
REFERENCE_FORMULA = (
    "per liquidation: long liquidated (side sell): max(0, floor((reference - price) x size / 1e8)); "
    "short liquidated (side buy): max(0, floor((price - reference) x size / 1e8)); reference = the "
    "market's index price at reference_ts (the last oracle price at or before it); an account's refund "
    "is the sum over its liquidations, in integer micro-USDC"
)

#: one journal row: the command as journaled (a dict with ``seq``) and its journaled outcome if known
Row = tuple[dict, "str | None"]
Resolver = Callable[[str], object]


class CounterfactualError(PerpdeskError):
    """The inputs do not describe a window that can be replayed faithfully."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def outcome(events: list[dict]) -> str:
    """The journal's outcome string for a command's events (as the node journals it)."""
    if len(events) == 1 and events[0]["type"] == "rejected":
        return f"rejected:{events[0]['code']}"
    return "ok"


def window_hash(rows: Iterable[Row]) -> str:
    """SHA-256 of the window's commands (canonical JSON): recomputing over another journal shows."""
    h = hashlib.sha256()
    for cmd, _outcome in rows:
        h.update(orjson.dumps(cmd, option=orjson.OPT_SORT_KEYS))
        h.update(b"\n")
    return h.hexdigest()


def inputs_hash(method, inputs: Mapping) -> str:
    """A digest naming one computation (method and inputs): the same incident is proposed once."""
    return hashlib.sha256(orjson.dumps({"method": method, "inputs": inputs}, option=orjson.OPT_SORT_KEYS)).hexdigest()


# ---------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------
_KEPT_EVENTS = frozenset({"trade", "liquidation", "deleverage", "oracle_updated"})


class Run:
    """A window replayed on a scratch engine: the engine at the end and the events that matter."""

    __slots__ = ("engine", "events")

    def __init__(self, engine: Engine, events: list[dict]) -> None:
        self.engine = engine
        self.events = events


def restore(snap) -> Engine:
    """A fresh engine holding ``snap``'s state, at its seq and time."""
    return restore_scratch(SimpleNamespace(snapshots={}), snap)


def replay(snap, rows: Sequence[Row], *, drop: frozenset[int] = frozenset(),
           replace: Mapping[int, dict] | None = None, resolve: Resolver | None = None,
           check_outcomes: bool = False, before: Callable[[Engine, dict], None] | None = None) -> Run:
    """Replay ``rows`` (consecutive seqs; those up to ``snap.seq`` are passed over) on a restored scratch engine.

    ``drop``: seqs skipped (their seq is used up all the same); ``replace``: seq -> the
    command applied instead; ``resolve(snapshot_id)``: the stored snapshot a ``rollback``
    row restores (None if the store has none); ``check_outcomes``: refuse a row whose
    outcome differs from the journaled one; ``before(engine, cmd)``: called before each
    applied row.
    """
    eng = restore(snap)
    start = snap.seq
    replace = replace or {}
    kept: list[dict] = []
    for cmd, journaled in rows:
        seq = cmd["seq"]
        if seq <= start:
            continue
        if seq != eng.seq + 1:
            raise CounterfactualError("journal_gap", f"the journal has no row {eng.seq + 1} (next is {seq})")
        if seq in drop:
            eng.seq = seq
            continue
        c = replace.get(seq, cmd)
        c = {k: v for k, v in c.items() if k != "seq"}
        if c.get("type") == "rollback":
            preload(eng, c.get("snapshot_id"), resolve, start)
        if before is not None:
            before(eng, c)
        evs = eng.apply_obj(c)
        if check_outcomes and journaled is not None and outcome(evs) != journaled:
            raise CounterfactualError(
                "replay_diverged", f"journal seq {seq} ({c.get('type')}) replays as {outcome(evs)!r} but was "
                                   f"journaled as {journaled!r}: this window cannot be replayed faithfully")
        for ev in evs:
            if ev["type"] in _KEPT_EVENTS:
                kept.append(ev)
    return Run(eng, kept)


def preload(eng: Engine, snapshot_id, resolve: Resolver | None, start: int) -> None:
    """Make the snapshot a replayed ``rollback`` names available, as the node does on recovery."""
    if not isinstance(snapshot_id, str):
        return
    own = eng.snapshots.get(snapshot_id)
    if own is not None and own.seq > start:  # taken during this replay: this run's own snapshot
        return
    found = resolve(snapshot_id) if resolve is not None else None
    if found is not None:
        eng.snapshots[snapshot_id] = found
    else:
        eng.snapshots.pop(snapshot_id, None)


# ---------------------------------------------------------------------------
# the counterfactual method
# ---------------------------------------------------------------------------
def normalize_corrections(corrections: Mapping | None) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for k, v in (corrections or {}).items():
        try:
            seq = int(k)
        except (TypeError, ValueError):
            raise CounterfactualError("bad_correction", f"correction key {k!r} is not a journal seq") from None
        if not isinstance(v, dict):
            raise CounterfactualError("bad_correction", f"the correction for seq {seq} must be an object of fields")
        out[seq] = dict(v)
    return out


def _window(rows: Sequence[Row], after_seq: int, to_seq: int) -> list[Row]:
    win = [r for r in rows if after_seq < r[0]["seq"] <= to_seq]
    if not win or win[-1][0]["seq"] != to_seq:
        raise CounterfactualError("bad_window", f"the journal has no row {to_seq} after seq {after_seq}")
    return win


def compute(snap, rows: Sequence[Row], to_seq: int, bad_seqs: Iterable[int],
            corrections: Mapping | None = None, *, resolve: Resolver | None = None,
            expect_hash: str | None = None) -> dict:
    """Refunds for the window ``(snap.seq, to_seq]`` of ``rows`` without the bad inputs.

    ``rows``: journal rows (command with ``seq``, journaled outcome or None) covering the
    window; ``bad_seqs``: rows dropped; ``corrections``: seq -> fields that replace a row's
    (those seqs count as bad too); ``expect_hash``: the state hash the journal reached at
    ``to_seq`` if the caller knows it (the actual run must reproduce it).
    """
    if to_seq <= snap.seq:
        raise CounterfactualError("bad_window", f"to_seq {to_seq} is not after the snapshot's seq {snap.seq}")
    fixes = normalize_corrections(corrections)
    try:
        bad = {int(s) for s in bad_seqs} | set(fixes)
    except (TypeError, ValueError):
        raise CounterfactualError("bad_seq", "bad seqs must be journal seqs (integers)") from None
    if not bad:
        raise CounterfactualError("no_bad_inputs", "name at least one bad input (a journal seq) to leave out or correct")
    for s in sorted(bad):
        if not snap.seq < s <= to_seq:
            raise CounterfactualError("bad_seq", f"seq {s} is outside the window ({snap.seq}, {to_seq}]")
    win = _window(rows, snap.seq, to_seq)
    by_seq = {c["seq"]: c for c, _o in win}
    replace: dict[int, dict] = {}
    bad_inputs = []
    for s in sorted(bad):
        orig = by_seq[s]
        fix = fixes.get(s)
        if fix is not None:
            if fix.get("type", orig["type"]) != orig["type"]:
                raise CounterfactualError("bad_correction", f"the correction for seq {s} changes its type "
                                                            f"({orig['type']} -> {fix.get('type')})")
            merged = {**orig, **{k: v for k, v in fix.items() if k != "seq"}}
            try:
                command_type(merged)
            except NotACommand as e:
                raise CounterfactualError("bad_correction", f"seq {s}: {e}") from None
            replace[s] = merged
        bad_inputs.append({"seq": s, "type": orig["type"], "command": _public(orig),
                           "correction": _public(replace[s]) if s in replace else None})
    actual = replay(snap, win, resolve=resolve, check_outcomes=True)
    actual_hash = actual.engine.state_hash()
    if expect_hash is not None and actual_hash != expect_hash:
        raise CounterfactualError("replay_diverged", f"replaying the journal to seq {to_seq} reaches state "
                                                     f"{actual_hash[:12]}…, not the recorded {expect_hash[:12]}…")
    drop = frozenset(bad - set(replace))
    cf = replay(snap, win, drop=drop, replace=replace, resolve=resolve)
    inputs = {"snapshot_id": snap.snapshot_id, "snapshot_seq": snap.seq, "snapshot_state_hash": snap.state_hash,
              "to_seq": to_seq, "bad_seqs": sorted(bad),
              "corrections": {str(s): fixes[s] for s in sorted(fixes)}, "window_hash": window_hash(win)}
    return _proposals(actual, cf, inputs, bad_inputs, actual_hash)


def _public(cmd: dict) -> dict:
    return {k: v for k, v in sorted(cmd.items())}


def _reference_markets(actual: Engine, cf: Engine) -> dict:
    ref = dict(actual.markets)
    ref.update(cf.markets)
    return ref


def _ledger(eng: Engine, name: str, ref: dict) -> dict:
    a = eng.accounts.get(name)
    if a is None:
        return {"exists": False, "cash": "0", "positions": {}, "value": "0"}
    return {"exists": True, "cash": fmt_amount(a.cash), "value": fmt_amount(account_value(a, ref)),
            "positions": {m: {"size": fmt_size(p.size), "funding_entry": fmt_funding(p.funding_entry)}
                          for m, p in sorted(a.positions.items()) if p.size}}


def _trade_key(ev: dict) -> tuple:
    return (ev["seq"], ev["market"], ev["price"], ev["size"], ev["side"], ev["maker_account"],
            ev["taker_account"], ev["maker_fee"], ev["taker_fee"])


def _liq_key(ev: dict) -> tuple:
    return (ev["seq"], ev["market"], ev["side"], ev["size"], ev["price"], ev["mark_price"], ev["fee"], ev["bad_debt"])


def _adl_key(ev: dict) -> tuple:
    return (ev["seq"], ev["market"], ev["account"], ev["counterparty"], ev["size"], ev["price"], ev["side"])


def _liq_row(ev: dict) -> dict:
    return {"seq": ev["seq"], "market": ev["market"], "side": ev["side"], "size": fmt_size(ev["size"]),
            "price": fmt_price(ev["price"]), "mark_price": fmt_price(ev["mark_price"]),
            "fee": fmt_amount(ev["fee"]), "bad_debt": fmt_amount(ev["bad_debt"])}


def _trade_row(ev: dict, name: str) -> dict:
    maker = ev["maker_account"] == name
    side = ev["side"] if not maker else ("sell" if ev["side"] == "buy" else "buy")
    return {"seq": ev["seq"], "market": ev["market"], "side": side, "role": "maker" if maker else "taker",
            "size": fmt_size(ev["size"]), "price": fmt_price(ev["price"]),
            "fee": fmt_amount(ev["maker_fee"] if maker else ev["taker_fee"]),
            "counterparty": ev["taker_account"] if maker else ev["maker_account"]}


def _adl_row(ev: dict) -> dict:
    return {"seq": ev["seq"], "market": ev["market"], "account": ev["account"], "counterparty": ev["counterparty"],
            "side": ev["side"], "size": fmt_size(ev["size"]), "price": fmt_price(ev["price"])}


def _missing(mine: list[dict], other: list[dict], key) -> list[dict]:
    """The events of ``mine`` that ``other`` does not have (as a multiset), in order."""
    left = Counter(key(e) for e in other)
    out = []
    for e in mine:
        k = key(e)
        if left[k]:
            left[k] -= 1
        else:
            out.append(e)
    return out


def _by_account(events: list[dict], names: set[str]) -> dict[str, dict[str, list[dict]]]:
    out: dict[str, dict[str, list[dict]]] = {n: {"trade": [], "liquidation": [], "deleverage": []} for n in names}
    for ev in events:
        t = ev["type"]
        if t == "trade":
            for who in {ev["maker_account"], ev["taker_account"]}:
                if who in out:
                    out[who]["trade"].append(ev)
        elif t == "liquidation":
            if ev["account"] in out:
                out[ev["account"]]["liquidation"].append(ev)
        elif t == "deleverage":
            for who in {ev["account"], ev["counterparty"]}:
                if who in out:
                    out[who]["deleverage"].append(ev)
    return out


def _proposals(actual: Run, cf: Run, inputs: dict, bad_inputs: list[dict], actual_hash: str) -> dict:
    ref = _reference_markets(actual.engine, cf.engine)
    a_eng, c_eng = actual.engine, cf.engine
    amounts: dict[str, int] = {}
    changed = 0
    gained = 0
    for name in sorted(set(a_eng.accounts) | set(c_eng.accounts)):
        a = a_eng.accounts.get(name)
        c = c_eng.accounts.get(name)
        va = account_value(a, ref) if a is not None else 0
        vc = account_value(c, ref) if c is not None else 0
        if va != vc:
            changed += 1
        if vc > va:
            amounts[name] = vc - va
        elif va > vc:
            gained += va - vc
    names = set(amounts)
    act_ev = _by_account(actual.events, names)
    cf_ev = _by_account(cf.events, names)
    proposals = []
    for name in sorted(amounts):
        ae, ce = act_ev[name], cf_ev[name]
        fills = _missing(ae["trade"], ce["trade"], _trade_key)
        markets = sorted({m for e in (a_eng, c_eng) if name in e.accounts for m in e.accounts[name].positions}
                         | {ev["market"] for ev in fills} | {ev["market"] for ev in ae["liquidation"]})
        evidence = {
            "method": METHOD,
            "inputs": inputs,
            "formula": FORMULA,
            "refund": fmt_amount(amounts[name]),
            "reference_prices": {m: {"mark_price": fmt_price(ref[m].mark_price),
                                     "funding_index": fmt_funding(ref[m].funding_index)}
                                 for m in markets if m in ref},
            "actual": _ledger(a_eng, name, ref),
            "counterfactual": _ledger(c_eng, name, ref),
            "liquidations": [_liq_row(e) for e in _missing(ae["liquidation"], ce["liquidation"], _liq_key)],
            "counterfactual_liquidations": [_liq_row(e) for e in _missing(ce["liquidation"], ae["liquidation"],
                                                                          _liq_key)],
            "deleverages": [_adl_row(e) for e in _missing(ae["deleverage"], ce["deleverage"], _adl_key)],
            "fills": [_trade_row(e, name) for e in fills[:MAX_FILLS]],
            "fills_omitted": max(0, len(fills) - MAX_FILLS),
            "bad_inputs": bad_inputs,
        }
        proposals.append({"account": name, "amount": amounts[name], "evidence": evidence})
    return {
        "method": METHOD,
        "inputs": inputs,
        "formula": FORMULA,
        "bad_inputs": bad_inputs,
        "proposals": proposals,
        "total": sum(amounts.values()),
        "summary": {
            "accounts_compared": len(set(a_eng.accounts) | set(c_eng.accounts)),
            "accounts_changed": changed,
            "accounts_refunded": len(proposals),
            "gained_by_others": gained,
            "liquidations_actual": sum(1 for e in actual.events if e["type"] == "liquidation"),
            "liquidations_counterfactual": sum(1 for e in cf.events if e["type"] == "liquidation"),
            "actual_state_hash": actual_hash,
            "counterfactual_state_hash": cf.engine.state_hash(),
            "insurance_fund_actual": a_eng.insurance_fund,
            "insurance_fund_counterfactual": c_eng.insurance_fund,
        },
    }


# ---------------------------------------------------------------------------
# the reference-price method
# ---------------------------------------------------------------------------
def reference_price(snap, rows: Sequence[Row], from_seq: int, to_seq: int, reference_ts: int,
                    market: str | None = None, *, resolve: Resolver | None = None) -> dict:
    """Per liquidation in ``(from_seq, to_seq]``: the gap between its price and the index at ``reference_ts``.

    ``snap``: any snapshot at or before ``from_seq``; ``rows``: the journal after it, as
    executed, through at least the last row stamped at or before ``reference_ts``.
    """
    if not snap.seq <= from_seq < to_seq:
        raise CounterfactualError("bad_window", f"need snapshot seq {snap.seq} <= from_seq {from_seq} < to_seq {to_seq}")
    if type(reference_ts) is not int or reference_ts < 0:
        raise CounterfactualError("bad_reference_ts", "reference_ts must be engine milliseconds (an integer)")
    _window(rows, snap.seq, to_seq)
    last = next(c for c, _o in rows if c["seq"] == to_seq)
    if last.get("ts") is not None and reference_ts < last["ts"]:
        raise CounterfactualError("bad_reference_ts", f"reference_ts {reference_ts} is before the window's end "
                                                      f"(seq {to_seq} at {last['ts']}); choose a later time")

    def past_reference(cmd: dict) -> bool:
        return cmd["seq"] > to_seq and cmd.get("ts") is not None and cmd["ts"] > reference_ts

    used: list[Row] = []
    for r in rows:
        if past_reference(r[0]):
            break
        used.append(r)
    run = replay(snap, used, resolve=resolve, check_outcomes=True)
    eng = run.engine
    last_oracle: dict[str, int] = {}
    liqs = []
    for ev in run.events:
        if ev["type"] == "oracle_updated":
            last_oracle[ev["market"]] = ev["seq"]
        elif ev["type"] == "liquidation" and from_seq < ev["seq"] <= to_seq and (market is None or ev["market"] == market):
            liqs.append(ev)
    if market is not None and market not in eng.markets:
        raise CounterfactualError("unknown_market", f"there is no market {market!r}")
    refs: dict[str, dict] = {}
    per_account: dict[str, list[dict]] = {}
    for ev in liqs:
        m = ev["market"]
        if m not in refs:
            mk = eng.markets.get(m)
            if mk is None or mk.index_price <= 0:
                raise CounterfactualError("no_reference_price", f"{m} has no index price at {reference_ts}")
            refs[m] = {"price": mk.index_price, "oracle_seq": last_oracle.get(m)}
        ref = refs[m]["price"]
        gap = (ref - ev["price"]) if ev["side"] == "sell" else (ev["price"] - ref)
        amount = max(0, gap * ev["size"] // SIZE_SCALE)
        row = {**_liq_row(ev), "reference_price": fmt_price(ref), "refund": fmt_amount(amount), "amount": amount}
        per_account.setdefault(ev["account"], []).append(row)
    inputs = {"from_seq": from_seq, "to_seq": to_seq, "reference_ts": reference_ts, "market": market,
              "window_hash": window_hash(r for r in used if r[0]["seq"] > from_seq)}
    ref_prices = {m: {"index_price": fmt_price(v["price"]), "oracle_seq": v["oracle_seq"]}
                  for m, v in sorted(refs.items())}
    proposals = []
    for name in sorted(per_account):
        rows_ = per_account[name]
        amount = sum(r.pop("amount") for r in rows_)
        if amount <= 0:
            continue
        proposals.append({"account": name, "amount": amount, "evidence": {
            "method": REFERENCE_METHOD, "inputs": inputs, "formula": REFERENCE_FORMULA,
            "refund": fmt_amount(amount), "reference_prices": {m: ref_prices[m] for m in sorted({r["market"] for r in rows_})},
            "liquidations": rows_}})
    return {
        "method": REFERENCE_METHOD,
        "inputs": inputs,
        "formula": REFERENCE_FORMULA,
        "reference_prices": ref_prices,
        "proposals": proposals,
        "total": sum(p["amount"] for p in proposals),
        "summary": {"liquidations": len(liqs), "accounts_refunded": len(proposals),
                    "replayed_from": snap.snapshot_id},
    }


# ---------------------------------------------------------------------------
# suspect inputs: judged by the guard rails' own checks
# ---------------------------------------------------------------------------
def suspect_reasons(engine: Engine, cmd: dict) -> list[str]:
    """Why a market-data command looks wrong against the engine state it arrives at ([] = fine).

    The verdict is the guard rails' (``guards.check_market_state`` / ``guards.check_oracle``, the
    checks that quarantine or hold such a command when the safeguards are on), so the refund desk
    and the guards agree on what a bad input is, whether or not the guards were on that night:
    a ``load_market_state`` whose mark is off the band around the trusted index or whose funding
    index moves further than funding could have moved it (a zeroed index is also named as such,
    the signature of the January 2026 incident); an ``oracle_price`` that is not positive, stale,
    or an unconfirmed jump beyond the oracle band.
    """
    t = cmd.get("type")
    if t not in ("load_market_state", "oracle_price"):
        return []
    from ..core.commands import CommandError, parse_command

    try:
        args = parse_command(cmd).args
    except (CommandError, NotACommand):
        return []  # refused by the engine: it changed nothing
    market = args["market"]
    mk = engine.markets.get(market)
    if mk is None:
        return []
    # the guards judge a command at its own time (the engine moves its clock to ``ts`` first)
    ts = cmd.get("ts")
    at = SimpleNamespace(now=ts if type(ts) is int and ts > engine.now else engine.now,
                         markets=engine.markets, snapshots=engine.snapshots)
    if t == "load_market_state":
        reasons = []
        if args["funding_index"] == 0 and mk.funding_index != 0:
            reasons.append(f"funding index zeroed (was {fmt_funding(mk.funding_index)})")
        return reasons + guards.check_market_state(at, market, args["mark_price"], args["funding_index"])
    refused = guards.check_oracle(at, market, args["price"], args["source"], args["publish_ts"])
    return [refused[1]] if refused is not None else []


def suspects(snap, rows: Sequence[Row], from_seq: int, to_seq: int, *, resolve: Resolver | None = None) -> list[dict]:
    """Market-data rows in ``(from_seq, to_seq]`` that look wrong (see :func:`suspect_reasons`)."""
    found: list[dict] = []

    def look(eng: Engine, cmd: dict) -> None:
        seq = eng.seq + 1
        if from_seq < seq:
            reasons = suspect_reasons(eng, cmd)
            if reasons:
                found.append({"seq": seq, "ts": cmd.get("ts"), "type": cmd["type"], "market": cmd.get("market"),
                              "reasons": reasons, "command": _public(cmd)})

    replay(snap, [r for r in rows if r[0]["seq"] <= to_seq], resolve=resolve, before=look)
    return found
