"""The API's published units (engine/api/units.py) are the engine core's, value for value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.api import units
from engine.core import fixedpoint as fp

NAMES = ("amount", "price", "size", "frac", "funding")


def test_the_scales_are_the_cores():
    for name in ("AMOUNT", "PRICE", "SIZE", "FRAC", "FUNDING"):
        assert getattr(units, f"{name}_DECIMALS") == getattr(fp, f"{name}_DECIMALS")
        assert getattr(units, f"{name}_SCALE") == getattr(fp, f"{name}_SCALE")


@given(st.integers(min_value=-(2**80), max_value=2**80))
def test_the_formatting_is_the_cores(n):
    for name in NAMES:
        text = getattr(units, f"fmt_{name}")(n)
        assert text == getattr(fp, f"fmt_{name}")(n)
        if abs(n) < 10**25:  # (parse_decimal takes at most 30 whole digits)
            assert fp.parse_decimal(text, getattr(fp, f"{name.upper()}_DECIMALS"), name, allow_negative=True) == n


def test_a_span_reads_as_people_say_it():
    from engine.api.units import fmt_span

    assert [fmt_span(ms) for ms in (0, 15_400, 60_000, 623_000, 3_600_000, 7_530_000, -5)] == [
        "0s", "15s", "1m00s", "10m23s", "1h00m", "2h05m", "0s"]


def test_the_apis_validation_checks_are_the_cores():
    """The console lists every validation check by name (engine.api.vocabulary, importable without the
    core); the list is the core's own, in its order."""
    from engine.api.vocabulary import VALIDATION_CHECKS
    from engine.core.checks import CHECKS

    assert list(VALIDATION_CHECKS) == list(CHECKS)
