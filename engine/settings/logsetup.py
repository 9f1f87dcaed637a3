"""Logging for every perpdesk process: a rotating file under the state directory, secrets redacted.

:func:`setup` is called once by each entry point (``perpdesk`` and its venue child process,
``perpdesk demo``, ``replay``, ``verify``, ``refunds export``). Each process kind writes its own file,
``<state dir>/logs/<process>.log`` (``$PERPDESK_HOME/state/logs/`` when ``PERPDESK_HOME`` is set; see
``engine/settings/paths.py``), rotated at 5 MB with 5 backups, so two processes never rotate one file.

* ``tui=True`` (the console, its venue child, a demo in the console): nothing goes to the terminal
  the TUI draws on. No stream handler is installed; Python's ``warnings`` are routed to the file;
  a failing log write is dropped silently (``logging.raiseExceptions`` off) instead of printing a
  traceback; the venue child also points its file descriptor 2 at ``venue.stderr`` beside the log
  (the sandbox venue's stdout and stderr go to ``venue.stdout``) so even a stray ``print(file=sys.stderr)`` cannot reach the screen.
* ``tui=False`` (the command-line tools): warnings and errors are also written to stderr, as
  Python's last-resort handler did before.

Secrets: :class:`RedactingFilter` replaces every secret the process knows (the config's ``SecretStr``
values, sinks' URLs and keys, given to :func:`protect_logs`) with ``***`` in every record that
reaches a handler installed here, whatever logger it came from (httpx's request log included).
No pydantic, no engine core: a tool that only replays loads nothing more for its logging.
"""

from __future__ import annotations

import functools
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import paths

LOG_SUBDIR = "logs"
MAX_BYTES = 5_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


#: a URL's path segment or query value this long (or with a digit and 8 long) is treated as a token
_TOKEN_PART_MIN = 16
_SHORT_TOKEN_MIN = 8


def _looks_like_token(part: str) -> bool:
    return len(part) >= _TOKEN_PART_MIN or (len(part) >= _SHORT_TOKEN_MIN and any(c.isdigit() for c in part))


@functools.lru_cache(maxsize=256)
def secret_parts(secret: str) -> tuple[str, ...]:
    """The strings that reveal ``secret``, longest first: the secret and, for a URL, its userinfo
    (user, password), its query values, its path and its token-like path segments (a Slack or
    Discord webhook's ``T.../B.../xyz`` parts); plain words of a URL (``services``) are not secrets."""
    parts = {secret}
    try:
        u = urlsplit(secret)
    except ValueError:
        u = None
    if u is not None and u.scheme and u.netloc:
        if u.password:
            parts.add(u.password)
        if u.username and (u.password or _looks_like_token(u.username)):
            parts.add(u.username)
        if u.path and u.path != "/":
            path = u.path.rstrip("/")
            segs = [seg for seg in path.split("/") if _looks_like_token(seg)]
            if segs:
                parts.add(path)
            parts.update(segs)
        for pair in u.query.split("&"):
            value = pair.split("=", 1)[1] if "=" in pair else ""
            if len(value) >= 6:
                parts.add(value)
        if u.fragment and len(u.fragment) >= 6:
            parts.add(u.fragment)
    parts |= {unquote(p) for p in parts}
    return tuple(sorted((p for p in parts if p), key=len, reverse=True))


def _char_pattern(ch: str) -> str:
    """One character as it may appear: itself, percent-encoded (any case), ``+`` for a space, ``\\/``
    for a slash (JSON)."""
    alts = [re.escape(ch)] + ["".join(f"%(?i:{b:02x})" for b in ch.encode())]
    if ch == " ":
        alts.append(r"\+")
    elif ch == "/":
        alts.append(r"\\/")
    return "(?:" + "|".join(alts) + ")"


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern | None:
    parts: set[str] = set()
    for s in secrets:
        if s:
            parts.update(secret_parts(s))
    if not parts:
        return None
    return re.compile("|".join("".join(_char_pattern(c) for c in p) for p in sorted(parts, key=len, reverse=True)))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``: each secret itself and, for a URL, its
    query-string values, userinfo, path and token-like path segments (:func:`secret_parts`), whether
    written plain, percent-encoded (wholly or in part, any case), with ``+`` for spaces or JSON-escaped
    slashes. The one redaction of the logs, the alert delivery records and anything else that shows
    an error text."""
    pat = _pattern(tuple(secrets))
    return pat.sub("***", text) if pat is not None else text


class RedactingFilter(logging.Filter):
    """A logging filter that replaces secrets in a record's message (httpx logs every request's URL,
    and a Slack or Discord webhook URL *is* a secret)."""

    def __init__(self) -> None:
        super().__init__("perpdesk-redact")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                msg = record.getMessage()
            except Exception:
                return True
            clean = redact(msg, tuple(self.secrets))
            if clean != msg:
                record.msg, record.args = clean, ()
            if record.exc_info and not record.exc_text:  # a traceback's text may quote a URL too
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), tuple(self.secrets))
            elif record.exc_text:
                record.exc_text = redact(record.exc_text, tuple(self.secrets))
        return True


_FILTER = RedactingFilter()


def protect_logs(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` from every record of the HTTP libraries' and perpdesk's loggers, and from every
    record reaching the handlers :func:`setup` installs."""
    new = {s for s in secrets if s}
    if not new:
        return
    _FILTER.secrets |= new
    for name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                 "perpdesk", "perpdesk.alerts", "perpdesk.feeds"):
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)


def log_dir() -> Path:
    return paths.state_dir() / LOG_SUBDIR


def log_path(process: str) -> Path:
    return log_dir() / f"{process}.log"


#: libraries that log every request at INFO: an attached console polls the venue four times a second
#: (five reads each), which filled console.log with ~1.7 million httpx lines a day; their warnings still show
CHATTY = ("httpx", "httpcore")


def _ours(h: logging.Handler) -> bool:
    return bool(getattr(h, "_perpdesk", False))


def setup(process: str, *, tui: bool, secrets: Iterable[str] = (), level: int = logging.INFO) -> Path | None:
    """Install this process's logging (idempotent: a second call replaces the first's handlers).

    Returns the log file's path (None when it cannot be created: then a TUI process logs nowhere
    rather than on its screen, and a tool logs to stderr only)."""
    protect_logs(secrets)
    root = logging.getLogger()
    for h in list(root.handlers):
        if _ours(h):
            root.removeHandler(h)
            h.close()
    path: Path | None = log_path(process)
    handlers: list[logging.Handler] = []
    try:
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8",
                                                  delay=True)
        fh.setFormatter(logging.Formatter(FORMAT))
        handlers.append(fh)
    except OSError:
        path = None
    if tui:
        if not handlers:
            handlers.append(logging.NullHandler())  # never the last-resort handler (stderr)
        logging.raiseExceptions = False  # a failing write must not print a traceback on the screen
        logging.captureWarnings(True)
    else:
        sh = logging.StreamHandler(sys.stderr)
        sh.setLevel(logging.WARNING)
        sh.setFormatter(logging.Formatter(f"perpdesk {process}: %(levelname)s: %(message)s"))
        handlers.append(sh)
    for h in handlers:
        h._perpdesk = True  # type: ignore[attr-defined]
        h.addFilter(_FILTER)
        root.addHandler(h)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
    logging.getLogger("perpdesk").info("%s started (pid %d), logging to %s", process, os.getpid(), path)
    return path


def redirect_stderr(process: str) -> Path | None:
    """Point file descriptor 2 (and ``sys.stderr``) at ``<log dir>/<process>.stderr``: for a child process
    that shares the TUI's terminal, so nothing it writes to stderr (a C extension, a stray print, an
    interpreter error at exit) lands on the screen. Returns the file (None: left as it was)."""
    p = log_dir() / f"{process}.stderr"
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return None
    try:
        sys.stderr.flush()
    except Exception:
        pass
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
    return p


__all__ = ["RedactingFilter", "log_dir", "log_path", "protect_logs", "redact", "redirect_stderr", "secret_parts",
           "setup"]
