"""The TOML config: where it is read from, validation naming the key, secrets that never print."""

from __future__ import annotations

import pytest

from engine.settings.config import EXAMPLE, ConfigError, load_config, parse_config

ENV = {"PYTH_API_KEY": "pyth-SECRET", "PERPDESK_SLACK_WEBHOOK": "https://hooks.slack.com/services/T/B/SECRETx",
       "PERPDESK_PD_ROUTING_KEY": "pd-SECRET-key"}


def test_the_readme_example_is_valid_and_secrets_never_print():
    cfg = parse_config(EXAMPLE, env=ENV)
    assert cfg.feeds.enabled and cfg.feeds.sources["binance"].weight == 3
    assert cfg.feeds.sources["kraken"].base_url == "https://api.kraken.com"
    assert cfg.feeds.markets["BTC-USD-PERP"]["kraken"] == "XBTUSD"
    assert cfg.alerts.sinks[1].url.get_secret_value() == "https://events.pagerduty.com/v2/enqueue"
    assert cfg.alerts.sinks[0].url.get_secret_value() == ENV["PERPDESK_SLACK_WEBHOOK"]
    shown = repr(cfg) + str(cfg) + cfg.model_dump_json()
    for secret in ENV.values():
        assert secret not in shown
    assert set(cfg.secrets()) >= set(ENV.values())
    assert cfg.feeds.max_deviation == "0.02"


@pytest.mark.parametrize("text,key,problem", [
    ("[feeds]\nquorum = 0", "feeds.quorum", "greater than or equal to 1"),
    ("[feeds]\nmax_deviation = 1.5", "feeds.max_deviation", "less than 1"),
    ("[feeds]\npoll_intervall_s = 2", "feeds.poll_intervall_s", "unknown key"),
    ("[feeds.sources.binance]\nweight = \"heavy\"", "feeds.sources.binance.weight", "valid integer"),
    ("[feeds.sources.bitfinex]\n", "feeds.sources.bitfinex.kind", "'pyth', 'binance'"),
    ("[feeds.sources.okx]\nbase_url = \"ftp://x\"", "feeds.sources.okx.base_url", "http"),
    ("[feeds.sources.okx]\n[feeds.markets.BTC-USD-PERP]\nbinance = \"BTCUSDT\"", "feeds.markets.BTC-USD-PERP.binance",
     "no source named 'binance'"),
    ("[feeds]\nenabled = true\n[feeds.sources.okx]\n[feeds.markets.BTC-USD-PERP]\nokx = \"BTC-USDT\"",
     "feeds.markets.BTC-USD-PERP", "fewer than the quorum"),
    ("[[alerts.sinks]]\nname = \"a\"\nkind = \"slack\"", "alerts.sinks[0].url", "needs a url"),
    ("[[alerts.sinks]]\nname = \"a\"\nkind = \"teams\"\nurl = \"https://x\"", "alerts.sinks[0].kind", "'slack'"),
    ("[[alerts.sinks]]\nname = \"p\"\nkind = \"pagerduty\"", "alerts.sinks[0].routing_key", "needs a routing_key"),
    ("[[alerts.sinks]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x\"\nmin_severity = \"loud\"",
     "alerts.sinks[0].min_severity", "'info'"),
    ("[[alerts.sinks]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x\"\n"
     "[[alerts.sinks]]\nname = \"a\"\nkind = \"discord\"\nurl = \"https://y\"", "alerts.sinks[1].name", "two sinks"),
    ("[[alerts.sinks]]\nname = \"a\"\nkind = \"slack\"\nurl = \"${MISSING_HOOK}\"", "alerts.sinks[0].url",
     "MISSING_HOOK is not set"),
    ("[alerts]\nmax_attempts = 0", "alerts.max_attempts", "greater than or equal to 1"),
])
def test_a_bad_config_names_the_key_and_the_problem(text, key, problem):
    with pytest.raises(ConfigError) as ei:
        parse_config(text, where="/etc/perpdesk.toml", env={})
    msg = str(ei.value)
    assert msg.startswith("/etc/perpdesk.toml: ") and f"{key}: " in msg and problem in msg, msg


def test_bad_toml_is_reported_with_its_position():
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        parse_config("[feeds]\nquorum = = 2")


def test_a_secret_in_a_bad_value_is_not_echoed():
    with pytest.raises(ConfigError) as ei:
        parse_config('[[alerts.sinks]]\nname = "a"\nkind = "slack"\nurl = "${HOOK}"\nnope = 1',
                     env={"HOOK": "https://hooks.slack.com/services/SECRETHOOK"})
    assert "SECRETHOOK" not in str(ei.value) and "alerts.sinks[0].nope" in str(ei.value)


def test_resolution_order(home, tmp_path, monkeypatch):
    monkeypatch.delenv("PERPDESK_CONFIG", raising=False)
    assert load_config().path is None and not load_config().feeds.enabled  # nothing there: defaults
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text('[alerts]\nvenue = "from-home"\n')
    assert load_config().alerts.venue == "from-home"
    env_file = tmp_path / "env.toml"
    env_file.write_text('[alerts]\nvenue = "from-env"\n')
    monkeypatch.setenv("PERPDESK_CONFIG", str(env_file))
    assert load_config().alerts.venue == "from-env"
    cli_file = tmp_path / "cli.toml"
    cli_file.write_text('[alerts]\nvenue = "from-cli"\n')
    assert load_config(cli_file).alerts.venue == "from-cli"
    monkeypatch.setenv("PERPDESK_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="missing.toml: there is no such config file"):
        load_config()
    with pytest.raises(ConfigError, match="nope.toml: there is no such config file"):
        load_config(tmp_path / "nope.toml")


def test_the_readme_config_block_is_valid():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = parse_config(block, env=ENV)
    assert cfg.feeds.enabled and [s.name for s in cfg.alerts.sinks] == ["ops-slack", "pager"]
