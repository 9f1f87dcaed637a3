"""Guard rails: pure validators and reads the engine core uses before it trusts outside input.

Nothing here changes state; the engine core (``marketdata.py``, ``admin.py``, ``liquidation.py``)
decides what to do with the answers. Everything is engine-time and integer
fixed point, so the same journal always gets the same answers.

* :func:`check_oracle`: an ``oracle_price`` that is non-positive, published
  longer ago than the market's ``oracle_stale_ms``, or beyond ``oracle_band``
  of the last trusted index without a second source confirming it.
* :func:`check_market_state`: a ``load_market_state`` write whose mark is not
  positive or outside the price band around the trusted index, or whose
  funding index moved further from the trusted state (or from the latest
  snapshot) than funding could have in the time between.
* :func:`reopen_gate`: the validation gate of ``release_brake`` and
  ``set_market_mode`` to ``open`` (and of a maintenance window's reopen).
* :func:`guard_status`: what the console shows about all of it.
"""

from __future__ import annotations

from .checks import Failure, run_checks
from .commands import CommandError
from .fixedpoint import FRAC_SCALE, fmt_frac, fmt_funding, fmt_price
from .model import DEFAULT_POST_ONLY_BAND
from .snapshot import market_summary

# flags a market can carry; any of them pauses liquidations and TP/SL triggers on it
FLAG_ORACLE_REJECTED = "oracle_rejected"  # the last oracle price was refused; cleared by the next accepted one
FLAG_ORACLE_STALE = "oracle_stale"  # no accepted oracle price within oracle_stale_ms; cleared likewise
FLAG_CIRCUIT_BREAKER = "circuit_breaker"  # too many liquidations at once; cleared by resume_liquidations
ORACLE_FLAGS = (FLAG_ORACLE_REJECTED, FLAG_ORACLE_STALE)

#: a second source confirms a pending jump when it reports within this fraction (10 bps) of it
ORACLE_CONFIRM_TOLERANCE = 100_000
#: a jump is accepted once it has persisted this long (engine time) in one direction ...
JUMP_CONFIRM_MS = 30_000
#: ... over at least this many refused prints, each within the oracle band of the one before
JUMP_CONFIRM_PRINTS = 3
#: an index print (the feed's weighted median) built from at least this many agreeing sources is
#: accepted at once, like a second source confirming a pending jump
ORACLE_AGREE_SOURCES = 2
#: the continuous audit runs the validation checks on a tick at most this often (engine time)
AUDIT_INTERVAL_MS = 60_000
#: funding bounds: the most a funding rate can be per period is the price band plus the clamp;
#: a write may move the funding index by at most that over the elapsed time plus this slack
FUNDING_SLACK_MS = 3_600_000
FUNDING_PERIOD_MS = 8 * 3600 * 1000  # same as core.FUNDING_PERIOD_MS
FUNDING_CLAMP = 50_000  # same as core.FUNDING_CLAMP


def is_jump(mk, price: int) -> bool:
    """Is ``price`` beyond the oracle band around the market's last trusted index?"""
    index = mk.index_price
    return index > 0 and abs(price - index) * FRAC_SCALE > index * mk.oracle_band


def confirms_pending(mk, price: int, source: str | None, now: int) -> bool:
    """Does this report confirm the pending jump: another named source, within tolerance, in time?"""
    pend = mk.oracle_pending
    if pend is None or source is None:
        return False
    p_price, p_source, p_ts = pend
    if source == p_source or now - p_ts > mk.oracle_stale_ms:
        return False
    return abs(price - p_price) * FRAC_SCALE <= p_price * ORACLE_CONFIRM_TOLERANCE


def _continues(mk, price: int, now: int) -> bool:
    """Does ``price`` continue the refused jump in progress: same direction from the trusted index,
    within the oracle band of its last print, which came no longer than ``oracle_stale_ms`` ago?"""
    j = mk.oracle_jump
    if j is None:
        return False
    d = 1 if price > mk.index_price else -1
    last = j[3]
    return (j[1] == d and now - j[4] <= mk.oracle_stale_ms
            and abs(price - last) * FRAC_SCALE <= last * mk.oracle_band)


def persisted(mk, price: int, now: int) -> bool:
    """A jump that has persisted: it continues a run of refused prints in the same direction that
    began at least JUMP_CONFIRM_MS ago and holds at least JUMP_CONFIRM_PRINTS prints."""
    j = mk.oracle_jump
    return (j is not None and _continues(mk, price, now) and now - j[0] >= JUMP_CONFIRM_MS
            and j[2] >= JUMP_CONFIRM_PRINTS)


def jump_acceptance(mk, price: int, source: str | None, sources: int | None, now: int) -> str | None:
    """Why a jump beyond the band may be applied: ``confirmed`` (a second source within 10 bps of the
    pending one), ``sources_agree`` (an index print of ORACLE_AGREE_SOURCES or more agreeing sources),
    ``persisted`` (see :func:`persisted`); None: it must wait."""
    if confirms_pending(mk, price, source, now):
        return "confirmed"
    if sources is not None and sources >= ORACLE_AGREE_SOURCES:
        return "sources_agree"
    if persisted(mk, price, now):
        return "persisted"
    return None


def note_refused_jump(mk, price: int, now: int) -> None:
    """Record a refused jump: it continues the run in progress, or starts a new one."""
    j = mk.oracle_jump
    if j is not None and _continues(mk, price, now):
        j[2] += 1
        j[3] = price
        j[4] = now
    else:
        mk.oracle_jump = [now, 1 if price > mk.index_price else -1, 1, price, now]


def check_oracle(engine, market: str, price: int, source: str | None, publish_ts: int | None,
                 sources: int | None = None) -> tuple[str, str] | None:
    """Why an oracle price must be refused, as ``(code, message)``; None when it may be applied.

    Codes: ``non_positive``, ``stale`` (``publish_ts`` older than the market's
    ``oracle_stale_ms``), ``jump_unconfirmed`` (beyond ``oracle_band`` of the last
    trusted index, and none of :func:`jump_acceptance`: no pending report from another
    source within 10 bps of it, fewer than ORACLE_AGREE_SOURCES agreeing ``sources``,
    not persisted for JUMP_CONFIRM_MS).
    """
    mk = engine.markets[market]
    if price <= 0:
        return "non_positive", f"oracle price for {market} must be greater than zero, got {fmt_price(price)}"
    now = engine.now
    if publish_ts is not None and now - publish_ts > mk.oracle_stale_ms:
        return "stale", (f"oracle price for {market} was published {now - publish_ts} ms ago, "
                         f"more than the {mk.oracle_stale_ms} ms limit")
    if is_jump(mk, price) and jump_acceptance(mk, price, source, sources, now) is None:
        move = abs(price - mk.index_price) * FRAC_SCALE // mk.index_price
        return "jump_unconfirmed", (f"{market} oracle {fmt_price(price)} from {source or 'an unnamed source'} is "
                                    f"{fmt_frac(move)} away from the trusted index {fmt_price(mk.index_price)} "
                                    f"(band {fmt_frac(mk.oracle_band)}); held until a second source confirms it "
                                    f"or it persists for {JUMP_CONFIRM_MS // 1000} s")
    return None


def funding_allowance(mk, index: int, dt_ms: int) -> int:
    """The most the funding index can move in ``dt_ms`` (plus slack) at the highest possible rate."""
    max_rate = mk.band + FUNDING_CLAMP
    return index * 10**6 * max_rate * (max(dt_ms, 0) + FUNDING_SLACK_MS) // (FRAC_SCALE * FUNDING_PERIOD_MS)


def latest_snapshot(engine):
    best = None
    for s in engine.snapshots.values():
        if best is None or s.seq > best.seq:
            best = s
    return best


def check_market_state(engine, market: str, mark_price: int, funding_index: int) -> list[str]:
    """Reasons to quarantine a ``load_market_state`` write (empty: it may be applied).

    Checked against the last trusted state (the market's index, mark and funding
    index) and the latest snapshot (its funding index for the market, and when
    it was taken).
    """
    mk = engine.markets[market]
    reasons: list[str] = []
    index = mk.index_price
    if mark_price <= 0:
        reasons.append(f"mark_price {fmt_price(mark_price)} is not positive")
    elif index > 0 and abs(mark_price - index) * FRAC_SCALE > index * mk.band:
        reasons.append(f"mark_price {fmt_price(mark_price)} is outside the price band "
                       f"({fmt_frac(mk.band)}) around the trusted index {fmt_price(index)}")
    if index > 0:
        allowed = funding_allowance(mk, index, engine.now - mk.last_funding_ts)
        if abs(funding_index - mk.funding_index) > allowed:
            reasons.append(f"funding_index {fmt_funding(funding_index)} moved beyond bounds from the trusted "
                           f"{fmt_funding(mk.funding_index)} (at most {fmt_funding(allowed)})")
        snap = latest_snapshot(engine)
        if snap is not None:
            row = market_summary(snap).get(market)
            if row is not None:
                s_fidx = row[2]
                allowed_s = funding_allowance(mk, index, engine.now - snap.ts)
                if abs(funding_index - s_fidx) > allowed_s:
                    reasons.append(f"funding_index {fmt_funding(funding_index)} moved beyond bounds from "
                                   f"{fmt_funding(s_fidx)} in the latest snapshot {snap.snapshot_id} "
                                   f"(at most {fmt_funding(allowed_s)})")
    return reasons


def post_only_band(mk) -> int:
    """The effective post-only band of a market (its own, else 5 bps)."""
    return mk.post_only_band or DEFAULT_POST_ONLY_BAND


def reopen_gate(engine, a: dict, what: str) -> list[Failure]:
    """The validation gate before a market reopens.

    Raises ``validation_failed`` while any check fails, unless the command carries
    ``override: true`` with a non-empty reason (the node lets only approvers and
    admins send it). Returns the failures that were overridden (empty when all hold).
    """
    failures = run_checks(engine)
    if not failures:
        return []
    if not a.get("override"):
        detail = "; ".join(f"{f.check}: {f.detail}" for f in failures[:5])
        raise CommandError("validation_failed", f"{what} refused: {len(failures)} validation check(s) fail: {detail}")
    if not str(a.get("reason") or "").strip():
        raise CommandError("missing_reason", f"overriding the validation gate for {what} needs a reason")
    return failures


def guard_status(engine) -> dict:
    """Per market: flags, breaker, pending oracle jump, quarantined writes, parameters; the last audit."""
    markets = {}
    now = engine.now
    for name, mk in engine.markets.items():
        pend = mk.oracle_pending
        markets[name] = {
            "flags": dict(sorted(mk.flags.items())),
            "breaker_tripped": FLAG_CIRCUIT_BREAKER in mk.flags,
            "liquidations_active": (mk.mode == "open" and not (engine.liquidations_paused or mk.liquidations_paused
                                                                or mk.flags)),
            "pending_oracle": (None if pend is None else
                               {"price": pend[0], "source": pend[1], "ts": pend[2]}),
            "oracle_jump": (None if mk.oracle_jump is None else
                            {"since_ts": mk.oracle_jump[0], "direction": mk.oracle_jump[1],
                             "refused_count": mk.oracle_jump[2], "last_price": mk.oracle_jump[3],
                             "last_ts": mk.oracle_jump[4]}),
            "impact_notional": mk.impact_notional,
            "quarantined": mk.quarantined,
            "oracle_age_ms": (now - mk.oracle_ts) if mk.index_price else None,
            "post_only_band": post_only_band(mk),
            "oracle_band": mk.oracle_band,
            "oracle_stale_ms": mk.oracle_stale_ms,
            "breaker_accounts": mk.breaker_accounts,
            "breaker_oi_share": mk.breaker_oi_share,
        }
    audit_ts, failures = engine.audit
    return {
        "safeguards": engine.safeguards,
        "markets": markets,
        "quarantined": sum(mk.quarantined for mk in engine.markets.values()),
        "last_audit": {"ts": audit_ts if audit_ts >= 0 else None, "ok": not failures,
                       "failures": [{"check": c, "detail": d, "market": m} for c, d, m in failures]},
    }
