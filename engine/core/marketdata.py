"""Market data: oracle prices (through the guard rails), hand-accepted prices, loaded market state,
the tick (maintenance, funding, mark, staleness, the continuous audit), and what follows any market
data (triggers, then liquidations); market flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import funding, guards, liquidation, maintenance, operations
from .commands import CommandError
from .fixedpoint import fmt_price
from .model import (
    OPEN,
    Market,
)
from .triggers import fire_triggers

if TYPE_CHECKING:
    from .engine import Engine


def oracle_price(eng: Engine, a: dict) -> None:
    """Handler of ``oracle_price``: through the guard rails (refused prices flag the market), then the index."""
    mk = eng.require_market(a["market"])
    p = a["price"]
    source = a["source"]
    extra: dict = {}
    if not eng.safeguards:
        if p <= 0:
            raise CommandError("non_positive", f"oracle price for {mk.name} must be greater than zero, got {fmt_price(p)}")
    else:
        sources = a["sources"]
        bad = guards.check_oracle(eng, mk.name, p, source, a["publish_ts"], sources)
        if bad is not None:  # refused: the market is flagged; a jump waits for confirmation
            code, message = bad
            if code == "jump_unconfirmed":
                mk.oracle_pending = [p, source, eng.now]
                guards.note_refused_jump(mk, p, eng.now)
            eng.emit({"type": "oracle_rejected", "market": mk.name, "price": p, "source": source,
                        "code": code, "message": message})
            flag(eng, mk, guards.FLAG_ORACLE_REJECTED, f"{code}: {message}")
            after_market_data(eng, (mk,))  # like any market data: whoever is due elsewhere is evaluated
            return
        if guards.is_jump(mk, p):  # a jump check_oracle let through: say why
            why = guards.jump_acceptance(mk, p, source, sources, eng.now)
            assert why is not None  # check_oracle refuses a jump nothing accepts
            if why == "confirmed":
                pend = mk.oracle_pending
                assert pend is not None
                extra["confirmed_by"] = source
                extra["first_source"] = pend[1]
            else:
                emit_jump_accepted(eng, mk, p, why, {})
    set_index(eng, mk, p, source, a["publish_ts"], extra)


def emit_jump_accepted(eng: Engine, mk: Market, p: int, why: str, extra: dict) -> None:
    """Emit ``oracle_jump_accepted``: why a price beyond the oracle band was taken."""
    j = mk.oracle_jump
    eng.emit({"type": "oracle_jump_accepted", "market": mk.name, "price": p, "reason": why,
                "since_ts": j[0] if j is not None else None, "refused_count": j[2] if j is not None else 0,
                "previous_index": mk.index_price, **extra})


def set_index(eng: Engine, mk: Market, p: int, source: str | None, publish_ts: int | None, extra: dict) -> None:
    """Apply an accepted oracle price: the index, its time, the flags, the mark, what is due."""
    mk.oracle_pending = None
    mk.oracle_jump = None
    mk.index_price = p
    mk.oracle_ts = eng.now
    if not mk.last_funding_ts:
        mk.last_funding_ts = eng.now
    ev = {"type": "oracle_updated", "market": mk.name, "price": p, "source": source}
    if publish_ts is not None:
        ev["publish_ts"] = publish_ts
    ev.update(extra)
    eng.emit(ev)
    if mk.flags:
        for f in guards.ORACLE_FLAGS:
            unflag(eng, mk, f)
    funding.update_mark(eng, mk, None)
    after_market_data(eng, (mk,))


def accept_oracle_price(eng: Engine, a: dict) -> None:
    """An approver accepts an oracle price by hand (e.g. one the guard rails held after a real move)."""
    mk = eng.require_market(a["market"])
    if not a["reason"].strip():
        raise CommandError("missing_reason", "accepting an oracle price by hand needs a reason")
    p = a["price"]
    emit_jump_accepted(eng, mk, p, "manual", {"operator": a["operator"], "operator_reason": a["reason"]})
    set_index(eng, mk, p, "manual", None, {"operator": a["operator"]})


def flag(eng: Engine, mk: Market, flag: str, detail: str) -> None:
    """Flag ``mk`` (liquidations and triggers pause on it); an event when the flag is new."""
    if flag not in mk.flags:
        mk.flags[flag] = detail
        eng.emit({"type": "market_flagged", "market": mk.name, "flag": flag, "detail": detail})


def unflag(eng: Engine, mk: Market, flag: str) -> None:
    """Clear ``flag`` on ``mk``; an event when it was set."""
    if flag in mk.flags:
        del mk.flags[flag]
        eng.emit({"type": "market_unflagged", "market": mk.name, "flag": flag})


def load_market_state(eng: Engine, a: dict) -> None:
    """Handler of ``load_market_state``: a mark and funding index loaded from outside (quarantined if implausible)."""
    mk = eng.require_market(a["market"])
    mark = a["mark_price"]
    if mark < 0:
        raise CommandError("negative", "mark_price must not be negative")
    if eng.safeguards:
        reasons = guards.check_market_state(eng, mk.name, mark, a["funding_index"])
        if reasons:  # quarantined: recorded, never applied
            mk.quarantined += 1
            eng.emit({"type": "market_data_quarantined", "market": mk.name, "mark_price": mark,
                        "funding_index": a["funding_index"], "source": a["source"], "reasons": reasons})
            after_market_data(eng, (mk,))  # nothing applied, but whoever is due is still evaluated
            return
    mk.mark_price = mark
    mk.funding_index = a["funding_index"]
    eng.mark_epoch += 1
    eng.emit({"type": "market_state_loaded", "market": mk.name, "mark_price": mark,
                "funding_index": mk.funding_index, "source": a["source"]})
    after_market_data(eng, (mk,))


def tick(eng: Engine, a: dict) -> None:
    """Handler of ``tick``: maintenance, funding, mark, premium samples, staleness, the audit, what is due, a due snapshot."""
    if eng.maintenance:
        maintenance.advance(eng)
    now = eng.now
    for mk in eng.markets.values():
        if not mk.index_price:
            continue
        live = mk.mode != "halted"  # positions exist in every mode but halted (the venue stopped)
        if mk.last_funding_ts and now > mk.last_funding_ts:
            funding.accrue_funding(eng, mk, mk.last_funding_ts, now, live)
            mk.last_funding_ts = now
        prem = funding.premium(eng, mk)
        funding.update_mark(eng, mk, prem)
        if live and now - mk.sample_ts >= funding.FUNDING_SAMPLE_MS:
            if now >= mk.prem_start + funding.FUNDING_INTERVAL_MS:
                funding.roll_interval(mk, now)
            mk.prem_sum += funding.trunc_div(prem, funding.BASIS_TO_FRAC)
            mk.prem_n += 1
            mk.sample_ts = now
    if eng.safeguards:
        for mk in eng.markets.values():
            if mk.index_price and now - mk.oracle_ts > mk.oracle_stale_ms:
                flag(eng, mk, guards.FLAG_ORACLE_STALE,
                           f"no accepted oracle price within {mk.oracle_stale_ms} ms")
        last = eng.audit[0]
        if last < 0 or now - last >= guards.AUDIT_INTERVAL_MS:
            audit(eng)
    after_market_data(eng, eng.markets.values())
    label = eng.snapshot_due
    if label is not None:  # after everything this tick did: the snapshot is the state after its seq
        eng.snapshot_due = None
        try:
            operations.take_snapshot(eng, {"label": label, "trigger": "maintenance"})
        except CommandError as e:  # this tick already changed state: reported, not refused
            eng.emit({"type": "snapshot_failed", "label": label, "code": e.code, "message": e.message})


def audit(eng: Engine) -> None:
    """The continuous audit: run the validation checks; halt what fails into cancel_only."""
    from .checks import run_checks

    failures = run_checks(eng)
    eng.audit = [eng.now, [[f.check, f.detail, f.market] for f in failures[:20]]]
    if not failures:
        return
    affected: set[str] = set()
    for i, f in enumerate(failures):
        if i < 20:  # one event per failure, up to 20 (the audit record keeps the same 20)
            eng.emit({"type": "validation_failed", "check": f.check, "detail": f.detail, "market": f.market,
                        "source": "audit"})
        if f.market is None:
            affected.update(eng.markets)
        elif f.market in eng.markets:
            affected.add(f.market)
    for m in sorted(affected):
        mk = eng.markets[m]
        if mk.mode not in ("cancel_only", "halted"):  # never loosen a stricter mode
            eng.set_mode(mk, "cancel_only")


def after_market_data(eng: Engine, markets, breaker_exempt: set[str] | None = None) -> None:
    """Fire due TP/SL triggers market by market, then liquidate whoever is below maintenance.

    Nothing fires or liquidates on a market that is restricted, paused or flagged (a market
    flagged only ``circuit_breaker`` still fires its triggers: the breaker pauses liquidations);
    ``breaker_exempt``: markets an operator just resumed (their waiting liquidations run)."""
    for mk in markets:
        if mk.mode == OPEN and not (eng.triggers_paused or mk.triggers_paused):
            flags = mk.flags
            # the circuit breaker pauses liquidations only; any other flag (an untrusted price) pauses stops
            if not flags or (len(flags) == 1 and guards.FLAG_CIRCUIT_BREAKER in flags):
                fire_triggers(eng, mk)
    if not eng.liquidations_paused:
        liquidation.evaluate(eng, breaker_exempt)

