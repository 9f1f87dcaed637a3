"""The API's units: every money, price, size and fraction crosses the API as an integer at a fixed scale.

These are the scales of the engine core (``engine/core/fixedpoint.py``, compiled; its constants are
inlined there for speed), published here so that a console can read and format API data without
loading the engine core (``tests/test_units.py`` holds the two equal, value by value).
"""

from __future__ import annotations

AMOUNT_DECIMALS = 6  # money (USDC)
PRICE_DECIMALS = 6  # prices (USDC per base unit)
SIZE_DECIMALS = 8  # sizes (base units)
FRAC_DECIMALS = 8  # fractions: margins, fees, rates, bands
FUNDING_DECIMALS = 12  # funding index (USDC per base unit)

AMOUNT_SCALE = 10**AMOUNT_DECIMALS
PRICE_SCALE = 10**PRICE_DECIMALS
SIZE_SCALE = 10**SIZE_DECIMALS
FRAC_SCALE = 10**FRAC_DECIMALS
FUNDING_SCALE = 10**FUNDING_DECIMALS


def decimal_string(n: int, decimals: int) -> str:
    """A scaled int as the shortest exact decimal string (``6425050000, 5`` -> ``"64250.5"``)."""
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), 10**decimals)
    if not r:
        return f"{sign}{q}"
    return f"{sign}{q}." + str(r).rjust(decimals, "0").rstrip("0")


def fmt_amount(n: int) -> str:
    return decimal_string(n, AMOUNT_DECIMALS)


def fmt_price(n: int) -> str:
    return decimal_string(n, PRICE_DECIMALS)


def fmt_size(n: int) -> str:
    return decimal_string(n, SIZE_DECIMALS)


def fmt_frac(n: int) -> str:
    return decimal_string(n, FRAC_DECIMALS)


def fmt_funding(n: int) -> str:
    return decimal_string(n, FUNDING_DECIMALS)


def fmt_span(ms: int) -> str:
    """A span of time as people say it: ``15s``, ``10m23s``, ``2h05m``."""
    s = max(0, ms) // 1000
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"
