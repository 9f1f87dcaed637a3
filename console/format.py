"""Formatting for the screens: fixed-point integers in, short human strings out.

The API's units (``engine.api.units``: ints at fixed scales) in; screens import from here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.api.units import (  # noqa: F401  (re-exported for the screens)
    AMOUNT_SCALE,
    FRAC_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    fmt_amount,
    fmt_frac,
    fmt_funding,
    fmt_price,
    fmt_size,
)


def _group(s: str) -> str:
    sign = "-" if s.startswith("-") else ""
    whole, dot, frac = s.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{frac}"


#: decimals per market for prices (its tick) and sizes (its lot); learnt from every markets read
PRICE_DP: dict[str, int] = {}
SIZE_DP: dict[str, int] = {}


def _dp(step: int, scale_digits: int) -> int:
    """Decimals a step needs: a tick of 100000 at 1e-6 -> 1; a lot of 100000 at 1e-8 -> 3."""
    if step <= 0:
        return scale_digits
    d = scale_digits
    while d > 0 and step % 10 == 0:
        step //= 10
        d -= 1
    return d


def learn_markets(markets) -> None:
    """Remember each market's tick and lot (cheap: called with every view model)."""
    for m in markets:
        name = m.get("market")
        if name in PRICE_DP or not name:
            continue
        PRICE_DP[name] = _dp(int(m.get("tick_size") or 0), 6)
        SIZE_DP[name] = _dp(int(m.get("lot_size") or 0), 8)


def fixed(n: int | None, scale_digits: int, decimals: int, *, sign: bool = False) -> str:
    """An integer at 10^-scale_digits as a decimal on exactly ``decimals`` places (half away from
    zero), with thousands separators: ``fixed(95848007692, 6, 1) == "95,848.0"``."""
    if n is None:
        return "—"
    decimals = max(0, min(decimals, scale_digits))
    q = 10 ** (scale_digits - decimals)
    v = (abs(n) + q // 2) // q
    whole, frac = divmod(v, 10 ** decimals)
    out = f"{whole:,}" + (f".{frac:0{decimals}d}" if decimals else "")
    if n < 0 and v:
        return "-" + out
    return ("+" + out) if sign and n > 0 and v else out


def price_on(n: int | None, market: str) -> str:
    """A price on the market's tick (fixed decimals, so a column lines up)."""
    dp = PRICE_DP.get(market)
    return price(n) if dp is None or n is None else fixed(n, 6, dp)


def size_on(n: int | None, market: str, *, sign: bool = False) -> str:
    """A size on the market's lot (fixed decimals)."""
    dp = SIZE_DP.get(market)
    return size(n) if dp is None or n is None else fixed(n, 8, dp, sign=sign)


def price(n: int | None) -> str:
    return "—" if n is None else _group(fmt_price(n))


def size(n: int | None) -> str:
    return "—" if n is None else _group(fmt_size(n))


def money(n: int | None, decimals: int = 2) -> str:
    """USDC with thousands separators, rounded toward zero to ``decimals`` places."""
    if n is None:
        return "—"
    q = 10 ** (6 - decimals)
    v = abs(n) // q * q
    s = _group(fmt_amount(v))
    whole, _dot, frac = s.partition(".")
    frac = (frac + "0" * decimals)[:decimals]
    out = f"{whole}.{frac}" if decimals else whole
    return f"-{out}" if n < 0 and v else out


def signed_money(n: int) -> str:
    return ("+" if n > 0 else "") + money(n)


def rate_pct(frac_int: int | None, decimals: int = 4) -> str:
    """A fraction (1e-8 scale) as a percentage: 10000 -> 0.0100%."""
    if frac_int is None:
        return "—"
    sign = "-" if frac_int < 0 else ""
    v = abs(frac_int)  # 1e-8 units; percent = v / 1e6
    whole, rem = divmod(v, 10**6)
    frac = str(rem).rjust(6, "0")[:decimals]
    return f"{sign}{whole}.{frac}%"


def bps(n: int | None) -> str:
    return "—" if n is None else f"{n / 100:.2f}%"


def clock_time(ts_ms: int | None) -> str:
    if not ts_ms:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M:%S")


def date_time(ts_ms: int | None) -> str:
    if not ts_ms:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(ms: int | None) -> str:
    if ms is None or ms < 0:
        return "—"
    if ms < 1000:
        return f"{ms}ms"
    s = ms // 1000
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def duration(ms: int) -> str:
    s = ms // 1000
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def short_hash(h: str | None) -> str:
    return (h or "")[:12]


def positions(p: dict) -> str:
    if not p:
        return "—"
    return ", ".join(f"{m.split('-')[0]} {size_on(s, m)}" for m, s in sorted(p.items()))


def count_of(n: int, noun: str) -> str:
    """``1 change``, ``2 changes``: a count with its noun, singular for one."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
