"""Where perpdesk keeps its files, resolved lazily (never at import time).

Nothing here touches the file system when imported, and the functions only
compute paths: directories are created by :func:`ensure_dir`, which the store
calls when it opens a database.

Resolution:

* ``PERPDESK_HOME`` (if set and non-empty) relocates every perpdesk file:
  data under ``$PERPDESK_HOME/data``, configuration under
  ``$PERPDESK_HOME/config``, state (logs, caches) under ``$PERPDESK_HOME/state``.
  Tests set it to a temporary directory so they never touch the real home.
* Otherwise platformdirs decides: on Linux ``~/.local/share/perpdesk``,
  ``~/.config/perpdesk`` and ``~/.local/state/perpdesk`` (honouring ``XDG_*``).
* The database URL is, in order: the caller's ``--db`` value, the
  ``PERPDESK_DB`` environment variable, then ``sqlite:///<data dir>/perpdesk.db``.
  A value without ``://`` is taken as the path of a SQLite file.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "perpdesk"
ENV_HOME = "PERPDESK_HOME"
ENV_DB = "PERPDESK_DB"
DB_FILENAME = "perpdesk.db"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def home() -> Path | None:
    """The relocated perpdesk root from ``PERPDESK_HOME``, or None when unset."""
    value = _env(ENV_HOME)
    return Path(value).expanduser().absolute() if value is not None else None


def data_dir() -> Path:
    """Directory for databases and exports (not created here)."""
    root = home()
    if root is not None:
        return root / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_dir() -> Path:
    """Directory for configuration files such as operator identity (not created here)."""
    root = home()
    if root is not None:
        return root / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def state_dir() -> Path:
    """Directory for logs and other machine-local state (not created here)."""
    root = home()
    if root is not None:
        return root / "state"
    import platformdirs

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def default_db_path() -> Path:
    return data_dir() / DB_FILENAME


def sqlite_url(path: str | os.PathLike) -> str:
    """``sqlite:///`` URL of a file path (made absolute)."""
    return "sqlite:///" + str(Path(path).expanduser().absolute())


def default_db_url() -> str:
    """The embedded SQLite database under the data directory."""
    return sqlite_url(default_db_path())


def resolve_db_url(cli_value: str | None = None) -> str:
    """The database URL to use: ``--db`` value, else ``PERPDESK_DB``, else the default.

    A bare path (no ``://``) is a SQLite file: ``--db ./drill.db`` means
    ``sqlite:////abs/path/drill.db``.
    """
    for value in (cli_value.strip() if cli_value else None, _env(ENV_DB)):
        if value:
            return value if "://" in value else sqlite_url(value)
    return default_db_url()


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if missing, private to the user; return it."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True, mode=0o700)
    return p


def describe(cli_db: str | None = None) -> dict[str, str]:
    """Resolved locations, for ``perpdesk`` status screens and ``--help`` output."""
    return {
        "home": str(home()) if home() is not None else "",
        "data_dir": str(data_dir()),
        "config_dir": str(config_dir()),
        "state_dir": str(state_dir()),
        "db_url": resolve_db_url(cli_db),
    }
