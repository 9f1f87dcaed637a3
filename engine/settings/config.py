"""perpdesk's configuration file: price feeds and alert sinks (TOML, validated with pydantic).

Where it is read from, first match wins:

1. the ``--config FILE`` value (``load_config(path)``),
2. the ``PERPDESK_CONFIG`` environment variable,
3. ``config.toml`` in the config directory (:func:`engine.settings.paths.config_dir`:
   ``$PERPDESK_HOME/config`` when ``PERPDESK_HOME`` is set, else platformdirs,
   ``~/.config/perpdesk`` on Linux).

A file named by 1 or 2 must exist; the default file may be absent (then
nothing is configured: simulated market, no alerts). Any string may be a
``${ENV_VAR}`` reference (or contain several), resolved when the file is
loaded; secrets (webhook URLs, routing keys, API keys, extra headers) are
pydantic ``SecretStr`` so ``repr``/``str``/logs show ``**********``.

A bad file raises :class:`ConfigError` whose message names the file, the key
path (``alerts.sinks[0].url``) and the problem; the CLI prints it without a
traceback. Unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import PerpdeskError

from . import paths
from .logsetup import RedactingFilter, protect_logs, redact  # noqa: F401  (moved to logsetup; re-exported)

ENV_CONFIG = "PERPDESK_CONFIG"
CONFIG_FILENAME = "config.toml"
SOURCE_KINDS = ("pyth", "binance", "coinbase", "kraken", "okx")
SINK_KINDS = ("slack", "pagerduty", "discord", "webhook")
SEVERITIES = ("info", "warning", "error", "critical")

DEFAULT_BASE_URLS = {
    "pyth": "https://hermes.pyth.network",
    "binance": "https://api.binance.com",
    "coinbase": "https://api.exchange.coinbase.com",
    "kraken": "https://api.kraken.com",
    "okx": "https://www.okx.com",
}
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(PerpdeskError):
    """A configuration that cannot be used; ``str(e)`` names the file, the key and the problem."""

    code = "bad_config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _fraction(v: Any) -> str:
    """A fraction as a decimal string (TOML float or string); never kept as a float."""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ValueError("must be a decimal such as \"0.02\"")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ValueError(f"{v!r} is not a decimal") from None
    if not d.is_finite() or d <= 0 or d >= 1:
        raise ValueError("must be greater than 0 and less than 1")
    return format(d, "f")


class SourceConfig(_Strict):
    """One price API. The table's name is the source's name; ``kind`` defaults to it."""

    kind: Literal["pyth", "binance", "coinbase", "kraken", "okx"]
    base_url: str = ""
    api_key: SecretStr | None = None
    weight: Annotated[int, Field(ge=1, le=100)] = 1
    enabled: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _default_url(self) -> SourceConfig:
        if not self.base_url:
            object.__setattr__(self, "base_url", DEFAULT_BASE_URLS[self.kind])
        return self


class FeedsConfig(_Strict):
    enabled: bool = False
    poll_interval_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    stale_after_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_deviation: Annotated[str, Field(description="fraction")] = "0.02"
    quorum: Annotated[int, Field(ge=1, le=20)] = 2
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 3.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    #: engine market -> {source name -> the source's own symbol or feed id}
    markets: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("max_deviation", mode="before")
    @classmethod
    def _dev(cls, v: Any) -> str:
        return _fraction(v)

    @field_validator("sources", mode="before")
    @classmethod
    def _kinds(cls, v: Any) -> Any:
        if isinstance(v, dict):  # the table's name is the kind unless given
            return {k: ({"kind": k, **s} if isinstance(s, dict) and "kind" not in s else s) for k, s in v.items()}
        return v

    @model_validator(mode="after")
    def _cross(self) -> FeedsConfig:
        for market, by_source in self.markets.items():
            for src, symbol in by_source.items():
                if src not in self.sources:
                    raise _KeyProblem(f"markets.{market}.{src}",
                                      f"no source named {src!r} (define [feeds.sources.{src}])")
                if not symbol.strip():
                    raise _KeyProblem(f"markets.{market}.{src}", "the symbol is empty")
        if self.enabled:
            if not self.markets:
                raise _KeyProblem("markets", "feeds are enabled but no market lists its sources")
            for market, by_source in self.markets.items():
                live = [s for s in by_source if self.sources[s].enabled]
                if len(live) < self.quorum:
                    raise _KeyProblem(f"markets.{market}",
                                      f"{len(live)} enabled source(s), fewer than the quorum of {self.quorum}")
        return self


class SinkConfig(_Strict):
    """One alert destination."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Literal["slack", "pagerduty", "discord", "webhook"]
    url: SecretStr | None = None
    routing_key: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    min_severity: Literal["info", "warning", "error", "critical"] = "warning"
    enabled: bool = True

    @model_validator(mode="after")
    def _needs(self) -> SinkConfig:
        if self.kind == "pagerduty":
            if self.routing_key is None or not self.routing_key.get_secret_value():
                raise _KeyProblem("routing_key", "a pagerduty sink needs a routing_key (the integration key)")
            if len(self.routing_key.get_secret_value()) > 255:
                raise _KeyProblem("routing_key", "longer than 255 characters")
            if self.url is None:
                object.__setattr__(self, "url", SecretStr(PAGERDUTY_URL))
        elif self.routing_key is not None:
            raise _KeyProblem("routing_key", f"only pagerduty sinks take a routing_key, this one is {self.kind}")
        if self.url is None or not self.url.get_secret_value():
            raise _KeyProblem("url", f"a {self.kind} sink needs a url")
        if not self.url.get_secret_value().startswith(("http://", "https://")):
            raise _KeyProblem("url", "must start with http:// or https://")
        return self


class AlertsConfig(_Strict):
    venue: Annotated[str, Field(min_length=1, max_length=64)] = "perpdesk"
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    backoff_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    max_retry_after_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    liquidation_spike: Annotated[int, Field(ge=1)] = 50
    liquidation_window_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    sinks: list[SinkConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        seen: set[str] = set()
        for i, s in enumerate(self.sinks):
            if s.name in seen:
                raise _KeyProblem(f"sinks[{i}].name", f"two sinks are named {s.name!r}")
            seen.add(s.name)
        return self


class Config(_Strict):
    feeds: FeedsConfig = Field(default_factory=FeedsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    #: where it came from (None: nothing configured)
    path: str | None = None

    def secrets(self) -> list[str]:
        """Every secret value, so error texts can be redacted before they are stored or shown."""
        out = []
        for s in self.alerts.sinks:
            for v in (s.url, s.routing_key, *s.headers.values()):
                if v is not None and v.get_secret_value():
                    out.append(v.get_secret_value())
        for src in self.feeds.sources.values():
            if src.api_key is not None and src.api_key.get_secret_value():
                out.append(src.api_key.get_secret_value())
        return out


class _KeyProblem(ValueError):
    """Raised inside validators: a problem at a key path relative to the model being validated."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def config_path(cli_value: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """(path, explicit): ``--config``, else ``PERPDESK_CONFIG``, else the default file."""
    if cli_value:
        return Path(cli_value).expanduser(), True
    env = os.environ.get(ENV_CONFIG, "").strip()
    if env:
        return Path(env).expanduser(), True
    return paths.config_dir() / CONFIG_FILENAME, False


def load_config(path: str | os.PathLike | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Read and validate the configuration (see the module doc); raises :class:`ConfigError`."""
    p, explicit = config_path(path)
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: there is no such config file")
        return Config()
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read it: {e.strerror}") from None
    return parse_config(raw, where=str(p), env=env)


def parse_config(raw: bytes | str, *, where: str = "<config>", env: dict[str, str] | None = None) -> Config:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    data = _expand(data, (), os.environ if env is None else env, where)
    data["path"] = where
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_describe(e)}") from None


def _expand(v: Any, loc: tuple, env, where: str) -> Any:
    if isinstance(v, dict):
        return {k: _expand(x, (*loc, k), env, where) for k, x in v.items()}
    if isinstance(v, list):
        return [_expand(x, (*loc, i), env, where) for i, x in enumerate(v)]
    if isinstance(v, str) and "${" in v:
        def sub(m: re.Match) -> str:
            name = m.group(1)
            value = env.get(name)
            if value is None or value == "":
                raise ConfigError(f"{where}: {_path(loc)}: the environment variable {name} is not set")
            return value

        return _ENV_REF.sub(sub, v)
    return v


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(e: ValidationError) -> str:
    problems = []
    for err in e.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        exc = ctx.get("error")
        if isinstance(exc, _KeyProblem):
            loc = (*loc, *_split_key(exc.key))
            msg = exc.problem
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        problems.append(f"{_path(loc)}: {msg}")
    return "; ".join(problems)


def _split_key(key: str) -> tuple:
    out: list = []
    for part in key.split("."):
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        assert m is not None
        if m.group(1):
            out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return tuple(out)


EXAMPLE = """\
# perpdesk config (TOML). Secrets come from the environment: "${NAME}".

[feeds]
enabled = true
poll_interval_s = 2       # seconds between polls
stale_after_s = 30        # a source older than this is dropped
max_deviation = "0.02"    # a source further than 2% from the median is dropped
quorum = 2                # fewer usable sources: the index is stale, nothing is published

[feeds.sources.binance]
weight = 3
[feeds.sources.okx]
weight = 2
[feeds.sources.coinbase]
[feeds.sources.kraken]
[feeds.sources.pyth]
api_key = "${PYTH_API_KEY}"

[feeds.markets.BTC-USD-PERP]
binance = "BTCUSDT"
okx = "BTC-USDT"
coinbase = "BTC-USD"
kraken = "XBTUSD"
pyth = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"

[alerts]
venue = "perpdesk-prod"
liquidation_spike = 50    # liquidations within liquidation_window_s
liquidation_window_s = 60

[[alerts.sinks]]
name = "ops-slack"
kind = "slack"
url = "${PERPDESK_SLACK_WEBHOOK}"

[[alerts.sinks]]
name = "pager"
kind = "pagerduty"
routing_key = "${PERPDESK_PD_ROUTING_KEY}"
min_severity = "error"
"""
