"""Lazy path resolution: PERPDESK_HOME, PERPDESK_DB, --db; nothing created at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.settings import paths
from engine.store.store import Store


def test_home_relocates_every_file(home):
    assert paths.home() == home
    assert paths.data_dir() == home / "data"
    assert paths.config_dir() == home / "config"
    assert paths.state_dir() == home / "state"
    assert paths.default_db_url() == f"sqlite:///{home / 'data' / 'perpdesk.db'}"
    assert not home.exists()  # resolving creates nothing


def test_platformdirs_without_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PERPDESK_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    assert paths.home() is None
    assert paths.data_dir() == tmp_path / "xdg-data" / "perpdesk"
    assert paths.config_dir() == tmp_path / "xdg-config" / "perpdesk"


def test_db_url_precedence(tmp_path, monkeypatch):
    default = paths.default_db_url()
    assert paths.resolve_db_url(None) == default
    monkeypatch.setenv("PERPDESK_DB", "postgresql+psycopg://u@h/db")
    assert paths.resolve_db_url(None) == "postgresql+psycopg://u@h/db"
    assert paths.resolve_db_url("sqlite:////x/y.db") == "sqlite:////x/y.db"
    monkeypatch.chdir(tmp_path)
    assert paths.resolve_db_url("drill.db") == f"sqlite:///{tmp_path / 'drill.db'}"
    monkeypatch.setenv("PERPDESK_DB", "")
    assert paths.resolve_db_url("  ") == default


def test_nothing_created_at_import(tmp_path):
    home = tmp_path / "fresh-home"
    env = dict(os.environ, PERPDESK_HOME=str(home))
    code = ("import engine.settings.paths, engine.store.store, engine.settings.paths as p; "
            "p.data_dir(); p.config_dir(); p.default_db_url(); p.resolve_db_url(None)")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).parents[2])
    assert not home.exists()


def test_dirs_created_lazily_when_store_opens(tmp_path):
    data = tmp_path / "home" / "data"
    assert not data.exists()
    with Store.open() as s:  # default URL under PERPDESK_HOME
        assert s.last_seq() == 0
    assert (data / "perpdesk.db").is_file()
    assert not (tmp_path / "home" / "config").exists()


def test_create_false_on_missing_file_creates_nothing(tmp_path):
    import pytest

    from engine.store.store import StoreNotFoundError

    target = tmp_path / "nope" / "x.db"
    with pytest.raises(StoreNotFoundError, match="no database"):
        Store.open(f"sqlite:///{target}", create=False)
    assert not target.parent.exists()
