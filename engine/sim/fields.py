"""The scenario files' building blocks: the error a bad file raises, durations and UTC times, the
strict pydantic base every scenario model derives from, and the decimal-string field check.

Used by :mod:`engine.sim.timeline` (the timeline entries) and :mod:`engine.sim.scenario` (the
scenario model and loading); both re-export what callers import.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from ..core.fixedpoint import DecimalError, parse_decimal
from ..errors import PerpdeskError


class ScenarioError(PerpdeskError):
    """A scenario file that cannot be used; ``problems`` lists (location, field, reason)."""

    code = "scenario_refused"

    def __init__(self, path: str, problems: list[tuple[str, str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{loc}: {fld}: {why}" if fld else f"{loc}: {why}" for loc, fld, why in problems]
        super().__init__(f"scenario {path} is refused:\n  " + "\n  ".join(lines))


# ---- time --------------------------------------------------------------------
_DUR = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(v: object) -> int:
    """``"1h30m"``, ``"90s"``, ``"250ms"`` or an int of ms -> ms."""
    if type(v) is int:
        if v < 0:
            raise ValueError("a duration cannot be negative")
        return v
    if not isinstance(v, str) or not v:
        raise ValueError(f"expected a duration such as \"90s\", \"30m\", \"1h30m\" or milliseconds, got {v!r}")
    m = _DUR.match(v.strip())
    if not m or not any(m.groups()):
        raise ValueError(f"{v!r} is not a duration (use h, m, s, ms: \"1h30m\", \"90s\", \"250ms\")")
    h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
    return ((h * 60 + mi) * 60 + s) * 1000 + ms


def parse_utc(v: str) -> int:
    """An ISO time (``"2026-01-19T04:30:00Z"``; UTC when no zone is given) -> ms since the epoch."""
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{v!r} is not an ISO time such as 2026-01-19T04:30:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def decimal_field(decimals: int, *, signed: bool = False, positive: bool = False):
    """A field check: a decimal string of at most ``decimals`` places (a bare number is refused)."""

    def check(v: object) -> str:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(f"write {v!r} as a decimal string (\"{v}\"): money, prices and sizes are never floats")
        try:
            n = parse_decimal(v, decimals, "value", allow_negative=signed)
        except DecimalError as e:
            raise ValueError(e.message) from None
        if positive and n <= 0:
            raise ValueError(f"must be greater than zero, got {v!r}")
        return v  # type: ignore[return-value]

    return check


class Strict(BaseModel):
    """A scenario model: unknown fields are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
