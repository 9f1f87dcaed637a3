"""``perpdesk --config FILE``: a bad config is reported by key, without a traceback, before anything starts."""

from __future__ import annotations

from console.cli import build_parser, main


def test_bad_config_names_the_key_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "perpdesk.toml"
    bad.write_text('[feeds]\nquorum = "two"\n')
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("perpdesk: bad config: ") and "feeds.quorum: " in err and "Traceback" not in err


def test_missing_config_file_named_by_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERPDESK_CONFIG", str(tmp_path / "nope.toml"))
    assert main([]) == 2
    assert "nope.toml: there is no such config file" in capsys.readouterr().err


def test_config_flag_is_documented():
    assert "--config FILE" in build_parser().format_help()
