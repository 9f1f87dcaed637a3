"""Market administration: creating markets and setting their parameters and bounds, the guard-rails
switch, market modes and platform access, the emergency brake and its release, the pauses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import guards, liveorders, maintenance, marketdata
from .commands import CommandError
from .fixedpoint import FRAC_SCALE, SIZE_SCALE, fmt_amount, fmt_frac, fmt_price, fmt_size
from .funding import FUNDING_INTERVAL_MS
from .model import (
    DEFAULT_BREAKER_ACCOUNTS,
    DEFAULT_BREAKER_OI_SHARE,
    DEFAULT_ORACLE_STALE_MS,
    OPEN,
    Market,
    default_impact_notional,
)
from .triggers import TRIGGER_TYPES

if TYPE_CHECKING:
    from .engine import Engine


def create_market(eng: Engine, a: dict) -> None:
    """Handler of ``create_market``: a new market with its grid, margins, fees, band and guard/bound parameters."""
    name = a["market"]
    if name in eng.markets:
        raise CommandError("market_exists", f"market {name!r} already exists")
    tick, lot = a["tick_size"], a["lot_size"]
    if (tick * lot) % SIZE_SCALE:
        raise CommandError("grid_not_exact", "tick_size x lot_size must be a whole number of micro-USDC (1e-6) so every fill's notional is exact")
    imf, mmf = a["initial_margin"], a["maintenance_margin"]
    if not (0 < mmf < imf <= FRAC_SCALE):
        raise CommandError("bad_margin", "need 0 < maintenance_margin < initial_margin <= 1")
    maker, taker, liq = a["maker_fee"], a["taker_fee"], a["liquidation_fee"]
    if taker > FRAC_SCALE // 10 or abs(maker) > taker and maker < 0 or maker > FRAC_SCALE // 10:
        raise CommandError("bad_fee", "fees must be below 10%, and a maker rebate no larger than the taker fee")
    if liq >= mmf:
        raise CommandError("bad_fee", "liquidation_fee must be smaller than maintenance_margin")
    band = a["price_band"]
    if not (0 < band < FRAC_SCALE // 2):
        raise CommandError("bad_band", "price_band must be between 0 and 0.5")
    params = guard_params(a, band)
    bounds = bound_params(a, imf, lot)
    idx = a["index_price"]
    if idx is not None and idx % tick:
        raise CommandError("off_tick", "index_price must be on the tick grid")
    mk = Market(name, tick, lot, imf, mmf, maker, taker, liq, band, params.get("post_only_band", 0))
    mk.oracle_band = params.get("oracle_band", band)
    mk.oracle_stale_ms = params.get("oracle_stale_ms", DEFAULT_ORACLE_STALE_MS)
    mk.breaker_accounts = params.get("breaker_accounts", DEFAULT_BREAKER_ACCOUNTS)
    mk.breaker_oi_share = params.get("breaker_oi_share", DEFAULT_BREAKER_OI_SHARE)
    set_bounds(mk, bounds)
    mk.impact_notional = params.get("impact_notional", default_impact_notional(name))
    mk.basis_ts = mk.sample_ts = eng.now
    mk.prem_start = eng.now - eng.now % FUNDING_INTERVAL_MS
    eng.markets[name] = mk
    eng.emit({"type": "market_created", "market": name, "tick_size": fmt_price(tick), "lot_size": fmt_size(lot),
                "initial_margin": fmt_frac(imf), "maintenance_margin": fmt_frac(mmf),
                "maker_fee_rate": fmt_frac(maker), "taker_fee_rate": fmt_frac(taker),
                "liquidation_fee_rate": fmt_frac(liq), "price_band": fmt_frac(band),
                **params_wire(mk), **bounds_wire(mk)})
    if idx is not None:
        mk.index_price = mk.mark_price = idx
        mk.oracle_ts = mk.last_funding_ts = eng.now
        eng.emit({"type": "mark_price", "market": name, "mark_price": idx, "index_price": idx})


def guard_params(a: dict, band: int) -> dict:
    """The guard-rail parameters given in ``a`` (validated); absent ones are left out."""
    out = {}
    pob = a["post_only_band"]
    if pob is not None:
        if not (0 < pob <= band):
            raise CommandError("bad_band", "post_only_band must be between 0 and price_band")
        out["post_only_band"] = pob
    ob = a["oracle_band"]
    if ob is not None:
        if not (0 < ob < FRAC_SCALE // 2):
            raise CommandError("bad_band", "oracle_band must be between 0 and 0.5")
        out["oracle_band"] = ob
    st = a["oracle_stale_ms"]
    if st is not None:
        if st <= 0:
            raise CommandError("bad_value", "oracle_stale_ms must be positive")
        out["oracle_stale_ms"] = st
    if a["breaker_accounts"] is not None:
        out["breaker_accounts"] = a["breaker_accounts"]
    share = a["breaker_oi_share"]
    if share is not None:
        if share > FRAC_SCALE:
            raise CommandError("bad_value", "breaker_oi_share must be between 0 and 1 (0: no limit)")
        out["breaker_oi_share"] = share
    imp = a["impact_notional"]
    if imp is not None:
        out["impact_notional"] = imp
    return out


def params_wire(mk: Market) -> dict:
    """A market's guard-rail parameters in wire form (decimal strings)."""
    return {"post_only_band": fmt_frac(guards.post_only_band(mk)), "oracle_band": fmt_frac(mk.oracle_band),
            "oracle_stale_ms": mk.oracle_stale_ms, "breaker_accounts": mk.breaker_accounts,
            "breaker_oi_share": fmt_frac(mk.breaker_oi_share), "impact_notional": fmt_amount(mk.impact_notional)}


def bound_params(a: dict, imf: int, lot: int) -> dict:
    """The bound parameters given in ``a`` (validated); absent ones are left out."""
    out: dict = {}
    mos = a["max_order_size"]
    if mos is not None:
        if mos % lot:
            raise CommandError("off_lot", "max_order_size must be a multiple of the lot size")
        out["max_order_size"] = mos
    if a["max_position_notional"] is not None:
        out["max_position_notional"] = a["max_position_notional"]
    if a["open_interest_cap"] is not None:
        out["open_interest_cap"] = a["open_interest_cap"]
    tiers = a["margin_tiers"]
    if tiers is not None:
        if tiers and tiers[0][1] <= imf:
            raise CommandError("bad_margin", "margin_tiers must raise the initial margin above the market's own")
        out["margin_tiers"] = tiers
    return out


def set_bounds(mk: Market, bounds: dict) -> None:
    """Set the validated bound parameters (``bound_params``) on ``mk``."""
    for k, v in bounds.items():
        if k == "max_order_size":
            mk.max_order_size = v
        elif k == "max_position_notional":
            mk.max_position_notional = v
        elif k == "open_interest_cap":
            mk.open_interest_cap = v
        else:
            mk.margin_tiers = [list(t) for t in v]


def bounds_wire(mk: Market) -> dict:
    """A market's bounds in wire form (decimal strings)."""
    return {"max_order_size": fmt_size(mk.max_order_size),
            "max_position_notional": fmt_amount(mk.max_position_notional),
            "open_interest_cap": fmt_size(mk.open_interest_cap),
            "margin_tiers": [[fmt_amount(t[0]), fmt_frac(t[1])] for t in mk.margin_tiers]}


def set_market_params(eng: Engine, a: dict) -> None:
    """Handler of ``set_market_params``: change guard-rail parameters and bounds of a market."""
    mk = eng.require_market(a["market"])
    params = guard_params(a, mk.band)
    bounds = bound_params(a, mk.imf, mk.lot)
    if not params and not bounds:
        raise CommandError("missing_field", "set_market_params needs at least one of post_only_band, oracle_band, "
                                            "oracle_stale_ms, breaker_accounts, breaker_oi_share, impact_notional, "
                                            "max_order_size, max_position_notional, open_interest_cap, margin_tiers")
    set_bounds(mk, bounds)
    for k, v in params.items():
        if k == "post_only_band":
            mk.post_only_band = v
        elif k == "oracle_band":
            mk.oracle_band = v
        elif k == "oracle_stale_ms":
            mk.oracle_stale_ms = v
        elif k == "breaker_accounts":
            mk.breaker_accounts = v
        elif k == "impact_notional":
            mk.impact_notional = v
        else:
            mk.breaker_oi_share = v
    eng.emit({"type": "market_params_set", "market": mk.name, "changed": sorted(params) + sorted(bounds),
                **params_wire(mk), **bounds_wire(mk), "operator": a["operator"], "reason": a["reason"]})


def set_safeguards(eng: Engine, a: dict) -> None:
    """Handler of ``set_safeguards``: the guard rails on or off (off clears every flag and pending price)."""
    en = a["enabled"]
    if en == eng.safeguards:
        raise CommandError("no_change", f"safeguards are already {'on' if en else 'off'}")
    if not en and not a["reason"].strip():
        raise CommandError("missing_reason", "turning the safeguards off needs a reason")
    eng.safeguards = en
    eng.emit({"type": "safeguards_set", "enabled": en, "operator": a["operator"], "reason": a["reason"]})
    if not en:  # as before the guard rails existed: no flags, nothing pending
        for mk in eng.markets.values():
            for f in sorted(mk.flags):
                marketdata.unflag(eng, mk, f)
            mk.oracle_pending = None
            mk.oracle_jump = None
        marketdata.after_market_data(eng, eng.markets.values())


def set_market_mode(eng: Engine, a: dict) -> None:
    """Handler of ``set_market_mode``: an operator sets a market's mode (reopening passes the reopen gate)."""
    mk = eng.require_market(a["market"])
    mode = a["mode"]
    if mode == mk.mode:
        raise CommandError("no_change", f"{mk.name} is already {mode}")
    if eng.brake_engaged and mode != "halted":
        raise CommandError("brake_engaged", "the emergency brake is engaged; release it first")
    overridden = guards.reopen_gate(eng, a, f"opening {mk.name}") if (mode == OPEN and eng.safeguards) else []
    if overridden:
        emit_override(eng, "set_market_mode", overridden, a)
    eng.set_mode(mk, mode)
    if mode == OPEN:
        marketdata.after_market_data(eng, (mk,))


def set_platform_access(eng: Engine, a: dict) -> None:
    """Handler of ``set_platform_access``: users' access on or off (not while the brake is engaged)."""
    en = a["enabled"]
    if en == eng.platform_access:
        raise CommandError("no_change", f"platform access is already {'enabled' if en else 'disabled'}")
    if en and eng.brake_engaged:
        raise CommandError("brake_engaged", "the emergency brake is engaged; release it to restore access")
    eng.platform_access = en
    eng.emit({"type": "platform_access", "enabled": en})


def brake_preview(eng: Engine) -> dict:
    """What ``emergency_brake`` would do now, without doing it."""
    per_market: dict[str, int] = {m: 0 for m in eng.markets}
    kept = 0
    accounts = set()
    for o in eng.orders.values():
        if o.order_type in TRIGGER_TYPES:
            kept += 1
        else:
            per_market[o.market] += 1
            accounts.add(o.account)
    return {
        "canceled_orders": sum(per_market.values()),
        "canceled_by_market": per_market,
        "kept_tpsl": kept,
        "accounts_affected": len(accounts),
        "markets_to_halt": [m for m, mk in eng.markets.items() if mk.mode != "halted"],
        "already_engaged": eng.brake_engaged,
    }


def emergency_brake(eng: Engine, a: dict) -> None:
    """Handler of ``emergency_brake``: access off, every market halted, pauses on, non-TP/SL orders canceled."""
    if eng.brake_engaged:
        raise CommandError("brake_engaged", "the emergency brake is already engaged")
    preview = brake_preview(eng)
    eng.brake_engaged = True
    if eng.platform_access:
        eng.platform_access = False
        eng.emit({"type": "platform_access", "enabled": False})
    for mk in eng.markets.values():
        eng.set_mode(mk, "halted")
    eng.pre_brake_pauses = [eng.liquidations_paused, eng.triggers_paused]
    eng.liquidations_paused = True
    eng.triggers_paused = True
    eng.emit({"type": "liquidations_paused", "market": None})
    for o in sorted((o for o in eng.orders.values() if o.order_type not in TRIGGER_TYPES), key=lambda o: o.id):
        liveorders.remove_order(eng, o, "brake")
    if eng.maintenance:
        maintenance.on_brake(eng)
    eng.emit({"type": "brake_engaged", "canceled_orders": preview["canceled_orders"],
                "canceled_by_market": preview["canceled_by_market"], "kept_tpsl": preview["kept_tpsl"],
                "accounts_affected": preview["accounts_affected"], "operator": a["operator"], "reason": a["reason"]})


def release_brake(eng: Engine, a: dict) -> None:
    """Handler of ``release_brake``: access back, markets to post_only, the pauses as they were."""
    if not eng.brake_engaged:
        raise CommandError("brake_not_engaged", "the emergency brake is not engaged")
    overridden = guards.reopen_gate(eng, a, "releasing the brake")
    if overridden:
        emit_override(eng, "release_brake", overridden, a)
    eng.brake_engaged = False
    eng.platform_access = True
    eng.emit({"type": "platform_access", "enabled": True})
    # pauses an operator set before the brake stay set: releasing the brake only undoes the brake
    liq, trig = eng.pre_brake_pauses if eng.pre_brake_pauses is not None else [False, False]
    eng.pre_brake_pauses = None
    eng.liquidations_paused = liq
    eng.triggers_paused = trig
    if not liq:
        eng.emit({"type": "liquidations_resumed", "market": None})
    for mk in eng.markets.values():
        if mk.mode in ("halted", "cancel_only", OPEN):
            eng.set_mode(mk, "post_only")
    eng.emit({"type": "brake_released", "operator": a["operator"], "reason": a["reason"],
                "override": bool(overridden)})


def emit_override(eng: Engine, command: str, failures: list, a: dict) -> None:
    """Emit ``validation_overridden``: an operator went past failing checks."""
    eng.emit({"type": "validation_overridden", "command": command,
                "failures": [{"check": f.check, "detail": f.detail} for f in failures],
                "operator": a["operator"], "reason": a["reason"]})


def pause_flag(eng: Engine, a: dict, attr: str, value: bool, event: str) -> None:
    """Set ``attr`` (``liquidations_paused`` or ``triggers_paused``) of one market (``a["market"]``) or
    of the whole venue to ``value``; ``no_change`` when it already is. Resuming evaluates what waited."""
    m = a["market"]
    mk = eng.require_market(m) if m is not None else None
    liq = attr == "liquidations_paused"
    if mk is not None:
        current = mk.liquidations_paused if liq else mk.triggers_paused
    else:
        current = eng.liquidations_paused if liq else eng.triggers_paused
    if current == value:
        raise CommandError("no_change", f"{attr.replace('_', ' ')} already {'on' if value else 'off'}" + (f" for {m}" if m else ""))
    if mk is not None:
        if liq:
            mk.liquidations_paused = value
        else:
            mk.triggers_paused = value
    elif liq:
        eng.liquidations_paused = value
    else:
        eng.triggers_paused = value
    eng.emit({"type": event, "market": m})
    if not value:
        marketdata.after_market_data(eng, [mk] if mk is not None else list(eng.markets.values()))


def pause_liquidations(eng: Engine, a: dict) -> None:
    """Handler of ``pause_liquidations`` (all markets, or one)."""
    pause_flag(eng, a, "liquidations_paused", True, "liquidations_paused")


def resume_liquidations(eng: Engine, a: dict) -> None:
    """Resume liquidations (all markets, or one) and reset tripped circuit breakers there."""
    m = a["market"]
    targets = [eng.require_market(m)] if m is not None else list(eng.markets.values())
    tripped = [mk for mk in targets if guards.FLAG_CIRCUIT_BREAKER in mk.flags]
    paused = eng.require_market(m).liquidations_paused if m is not None else eng.liquidations_paused
    if not tripped or paused:
        pause_flag(eng, a, "liquidations_paused", False, "liquidations_resumed")  # no_change when neither
    else:
        eng.emit({"type": "liquidations_resumed", "market": m})
    for mk in tripped:
        marketdata.unflag(eng, mk, guards.FLAG_CIRCUIT_BREAKER)
    if tripped:  # what waited for the operator runs now, without tripping the breaker again
        marketdata.after_market_data(eng, tripped, {mk.name for mk in tripped})


def pause_triggers(eng: Engine, a: dict) -> None:
    """Handler of ``pause_triggers`` (all markets, or one)."""
    pause_flag(eng, a, "triggers_paused", True, "triggers_paused")


def resume_triggers(eng: Engine, a: dict) -> None:
    """Handler of ``resume_triggers`` (all markets, or one)."""
    pause_flag(eng, a, "triggers_paused", False, "triggers_resumed")

