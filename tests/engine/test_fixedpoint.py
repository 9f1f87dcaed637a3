"""engine.core.fixedpoint: exact decimal strings in, ints inside, decimal strings out."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.fixedpoint import (
    DecimalError,
    fmt_amount,
    fmt_funding,
    fmt_price,
    fmt_size,
    format_decimal,
    mul_div_ceil,
    mul_div_floor,
    parse_decimal,
)


@pytest.mark.parametrize(
    ("text", "decimals", "expected"),
    [
        ("0", 6, 0),
        ("1", 6, 1_000_000),
        ("64250.5", 6, 64_250_500_000),
        ("0.000001", 6, 1),
        ("0.001", 8, 100_000),
        ("1.10000000000", 6, 1_100_000),  # trailing zeros beyond the scale are exact
        ("007", 2, 700),
        ("-0", 6, 0),
    ],
)
def test_parse_valid(text, decimals, expected):
    assert parse_decimal(text, decimals, "x") == expected


def test_parse_negative_only_when_allowed():
    assert parse_decimal("-1.5", 6, "x", allow_negative=True) == -1_500_000
    with pytest.raises(DecimalError) as ei:
        parse_decimal("-1.5", 6, "size")
    assert ei.value.code == "negative"
    assert "size" in ei.value.message


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.5, "float_not_allowed"),
        (0.1, "float_not_allowed"),
        (math.nan, "float_not_allowed"),
        (math.inf, "float_not_allowed"),
        (3, "number_not_allowed"),
        (True, "bad_type"),
        (None, "bad_type"),
        ([1], "bad_type"),
        ("NaN", "not_finite"),
        ("nan", "not_finite"),
        ("Infinity", "not_finite"),
        ("-Infinity", "not_finite"),
        ("inf", "not_finite"),
        ("1e5", "bad_decimal"),
        ("1E-3", "bad_decimal"),
        ("1.5e2", "bad_decimal"),
        ("", "bad_decimal"),
        (".5", "bad_decimal"),
        ("5.", "bad_decimal"),
        ("+5", "bad_decimal"),
        (" 5", "bad_decimal"),
        ("5 ", "bad_decimal"),
        ("1,5", "bad_decimal"),
        ("0x10", "bad_decimal"),
        ("1.2.3", "bad_decimal"),
        ("--1", "bad_decimal"),
        ("\u0661", "bad_decimal"),  # Arabic-Indic digit one: str.isdigit() but not ASCII
        ("1.0000001", "too_precise"),
        ("0.0000000001", "too_precise"),
    ],
)
def test_parse_refuses(value, code):
    with pytest.raises(DecimalError) as ei:
        parse_decimal(value, 6, "price")
    assert ei.value.code == code
    assert "price" in ei.value.message


def test_parse_refuses_absurdly_long_numbers_with_a_decimal_error():
    # Python refuses int() of more than 4300 digits with a plain ValueError: a
    # boundary parser must turn that into a stable refusal, not a crash.
    for text in ("9" * 5000, "9" * 31, "-" + "9" * 5000):
        with pytest.raises(DecimalError) as ei:
            parse_decimal(text, 6, "amount", allow_negative=True)
        assert ei.value.code == "too_large"
    with pytest.raises(DecimalError) as ei:
        parse_decimal("1." + "1" * 5000, 6, "amount")
    assert ei.value.code == "too_precise"
    assert parse_decimal("0" * 5000 + "1", 6, "amount") == 1_000_000  # leading zeros are harmless
    assert parse_decimal("9" * 30, 0, "amount") == int("9" * 30)


def test_decimal_error_is_value_error():
    assert issubclass(DecimalError, ValueError)


@pytest.mark.parametrize(
    ("n", "decimals", "text"),
    [
        (0, 6, "0"),
        (1, 6, "0.000001"),
        (64_250_500_000, 6, "64250.5"),
        (-1_500_000, 6, "-1.5"),
        (100_000, 8, "0.001"),
        (5, 0, "5"),
        (-1, 12, "-0.000000000001"),
    ],
)
def test_format(n, decimals, text):
    assert format_decimal(n, decimals) == text


def test_named_formatters():
    assert fmt_amount(1_234_567) == "1.234567"
    assert fmt_price(97_000_000_000) == "97000"
    assert fmt_size(100_000) == "0.001"
    assert fmt_funding(10**12) == "1"


@given(st.integers(min_value=-(10**30) + 1, max_value=10**30 - 1), st.sampled_from([0, 2, 6, 8, 12]))
def test_format_parse_round_trip(n, decimals):
    assert parse_decimal(format_decimal(n, decimals), decimals, "x", allow_negative=True) == n


@given(st.integers(min_value=0, max_value=10**20), st.integers(min_value=1, max_value=10**12),
       st.integers(min_value=1, max_value=10**12))
def test_mul_div_rounding(a, b, d):
    lo, hi = mul_div_floor(a, b, d), mul_div_ceil(a, b, d)
    assert lo * d <= a * b <= hi * d
    assert hi - lo in (0, 1)
    assert (hi == lo) == ((a * b) % d == 0)


def test_fast_formatters_equal_format_decimal():
    import random

    from engine.core.fixedpoint import (
        fmt_amount,
        fmt_frac,
        fmt_funding,
        fmt_price,
        fmt_size,
        format_decimal,
    )

    rng = random.Random(1)
    values = [0, 1, -1, 9, 10, 99, 100, 10**6, 10**6 + 1, 10**8 - 1, 10**12 + 5, -(10**12) - 5]
    values += [rng.randrange(-(10**20), 10**20) for _ in range(3000)]
    values += [rng.randrange(10**6) * 10 ** rng.randrange(0, 8) for _ in range(3000)]
    for f, d in ((fmt_amount, 6), (fmt_price, 6), (fmt_size, 8), (fmt_frac, 8), (fmt_funding, 12)):
        for v in values:
            assert f(v) == format_decimal(v, d), (d, v)
