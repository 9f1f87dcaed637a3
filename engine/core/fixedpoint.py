"""Integer fixed point at the boundary: decimal strings in, ints inside, decimal strings out.

Scales (all exact, all integers):

* money (USDC) ........ 6 decimals   ``AMOUNT_SCALE``
* prices (USDC/base) .. 6 decimals   ``PRICE_SCALE``
* sizes (base units) .. 8 decimals   ``SIZE_SCALE``
* fractions (margins, fees, bands) 8 decimals ``FRAC_SCALE``
* funding index (USDC/base) 12 decimals ``FUNDING_SCALE``

A market is only created if ``tick * lot`` is a whole number of micro-USDC, so
the notional of every fill (``price * size // SIZE_SCALE``) is exact and both
sides of a trade move the very same integer.
"""

from __future__ import annotations

from typing import Final

from engine.errors import PerpdeskError

# Final: compiled with mypyc, these are inlined constants and arithmetic on them stays native
AMOUNT_DECIMALS: Final = 6
PRICE_DECIMALS: Final = 6
SIZE_DECIMALS: Final = 8
FRAC_DECIMALS: Final = 8
FUNDING_DECIMALS: Final = 12

AMOUNT_SCALE: Final = 1_000_000  # 10**AMOUNT_DECIMALS
PRICE_SCALE: Final = 1_000_000  # 10**PRICE_DECIMALS
SIZE_SCALE: Final = 100_000_000  # 10**SIZE_DECIMALS
FRAC_SCALE: Final = 100_000_000  # 10**FRAC_DECIMALS
FUNDING_SCALE: Final = 1_000_000_000_000  # 10**FUNDING_DECIMALS

_DIGITS = frozenset("0123456789")
#: no money, price or size needs more; also keeps int() far below Python's 4300-digit limit
MAX_WHOLE_DIGITS = 30


class DecimalError(PerpdeskError, ValueError):
    """A value that is not an exact decimal string for its field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def parse_decimal(value: object, decimals: int, field: str, *, allow_negative: bool = False) -> int:
    """Parse a JSON decimal string into an int scaled by ``10**decimals``.

    Floats, NaN, Infinity, exponents, and more decimals than the scale holds are
    refused with a :class:`DecimalError` whose ``code`` is stable.
    """
    if type(value) is not str:
        if isinstance(value, bool):
            raise DecimalError("bad_type", f"{field} must be a decimal string, got a boolean")
        if isinstance(value, float):
            raise DecimalError(
                "float_not_allowed",
                f"{field} must be a decimal string such as \"1.5\", not the JSON number {value!r}",
            )
        if isinstance(value, int):
            raise DecimalError(
                "number_not_allowed",
                f"{field} must be a decimal string such as \"{value}\", not a JSON number",
            )
        raise DecimalError("bad_type", f"{field} must be a decimal string, got {type(value).__name__}")
    s = value
    neg = False
    if s[:1] == "-":
        neg = True
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if (
        not whole
        or not _DIGITS.issuperset(whole)
        or (dot and (not frac or not _DIGITS.issuperset(frac)))
    ):
        low = value.strip().lower()
        if low in ("nan", "-nan", "inf", "-inf", "infinity", "-infinity", "+inf"):
            raise DecimalError("not_finite", f"{field} must be a finite decimal, got {value!r}")
        raise DecimalError("bad_decimal", f"{field} is not a decimal string: {value!r}")
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise DecimalError(
                "too_precise", f"{field} {value!r} has more than {decimals} decimal places"
            )
        frac = frac[:decimals]
    whole = whole.lstrip("0") or "0"
    if len(whole) > MAX_WHOLE_DIGITS:
        raise DecimalError("too_large", f"{field} has more than {MAX_WHOLE_DIGITS} digits before the point")
    n = int(whole) * 10**decimals + (int(frac) * 10 ** (decimals - len(frac)) if frac else 0)
    if neg:
        if not allow_negative and n:
            raise DecimalError("negative", f"{field} must not be negative, got {value!r}")
        n = -n
    return n


def format_decimal(n: int, decimals: int) -> str:
    """Format a scaled int as the shortest exact decimal string (``"64250.5"``, ``"0"``)."""
    if decimals == 0:
        return str(n)
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), 10**decimals)
    if not r:
        return f"{sign}{q}"
    frac = str(r).rjust(decimals, "0").rstrip("0")
    return f"{sign}{q}.{frac}"


def amount(s: str) -> int:
    return parse_decimal(s, AMOUNT_DECIMALS, "amount")


def price(s: str) -> int:
    return parse_decimal(s, PRICE_DECIMALS, "price")


def size(s: str) -> int:
    return parse_decimal(s, SIZE_DECIMALS, "size")


def frac(s: str) -> int:
    return parse_decimal(s, FRAC_DECIMALS, "fraction")


def _formatter(decimals: int):
    """``format_decimal(n, decimals)`` specialised for one scale (the hot path of event output)."""
    scale = 10**decimals

    def fmt(n: int) -> str:
        if n >= 0:
            q, r = divmod(n, scale)
            if not r:
                return str(q)
            return str(q) + "." + str(scale + r)[1:].rstrip("0")  # scale + r: r zero-padded to `decimals` digits
        return format_decimal(n, decimals)

    return fmt


fmt_amount = _formatter(AMOUNT_DECIMALS)
fmt_price = _formatter(PRICE_DECIMALS)
fmt_size = _formatter(SIZE_DECIMALS)
fmt_frac = _formatter(FRAC_DECIMALS)
fmt_funding = _formatter(FUNDING_DECIMALS)


def mul_div_floor(a: int, b: int, d: int) -> int:
    return (a * b) // d


def mul_div_ceil(a: int, b: int, d: int) -> int:
    return -((-a * b) // d)
