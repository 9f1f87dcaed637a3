"""Formatting for the screens: fixed-point integers in, short human strings out.

The only place the console touches ``engine.fixedpoint``; screens import from here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.fixedpoint import (  # noqa: F401  (re-exported for the screens)
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
    return ", ".join(f"{m.split('-')[0]} {size(s)}" for m, s in sorted(p.items()))
