"""The journal writer process: the node's group commits, appended outside the node's GIL.

A node with a file or server database hands each batch of journal rows to this process
(``python -m engine.node.journalwriter``), which runs :meth:`engine.store.store.Store.append_journal`
on its own connection, the very code the node would run in-process: same validation,
canonical encoding, hash chain, INSERT, COMMIT (``synchronous=FULL``) and errors. The
node's three threads (callers, sequencer, writer) then share one GIL only with the engine
and the acknowledgements, while the encoding, hashing and SQLite work run on another core.

Protocol, over two pipes (frames: 4-byte big-endian length, then orjson):

* node -> writer, first frame: ``{"url", "busy_timeout_ms", "pragmas", "key", "fence"}`` (on the pipe, so
  a password never shows in ``ps``); then one frame per batch: ``{"rows": [[seq, ts, type,
  payload, outcome, epoch], ...], "marks": [[after_seq, upto_seq, new_epoch, snapshot_id,
  rollback_seq], ...]}``.
* writer -> node: ``{"ready": true}`` once the store is open (or ``{"error", "message"}``
  and exit); then per batch ``{"head": [seq, hash]}`` once COMMIT returned, or ``{"error":
  <StoreError class name>, "message"}`` when nothing was written.

The writer exits when the node closes its pipe, and dies with the node (Linux
``PR_SET_PDEATHSIG``): it never starts a transaction for a node that no longer exists.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time

import orjson

_LEN = struct.Struct(">I")


def send(fd: int, obj) -> None:
    """Write one frame (``obj`` as orjson; ``default`` turns NamedTuples into arrays)."""
    data = orjson.dumps(obj, default=tuple)
    write_all(fd, _LEN.pack(len(data)) + data)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int):
    """Read one frame; None at end of file (the other side closed its pipe)."""
    head = _read_exact(fd, _LEN.size)
    if head is None:
        return None
    (n,) = _LEN.unpack(head)
    data = _read_exact(fd, n)
    if data is None:
        raise EOFError("the journal writer pipe closed mid-frame")
    return orjson.loads(data)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        b = os.read(fd, min(n, 1 << 20))
        if not b:
            if chunks:
                raise EOFError("the journal writer pipe closed mid-frame")
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: EOF on the pipe still stops us
            pass
    if os.getppid() != parent:  # the node died before prctl took effect
        os._exit(0)


def main(argv: list[str]) -> int:
    rfd, wfd, parent = int(argv[0]), int(argv[1]), int(argv[2])
    _die_with_parent(parent)
    from ..core.runtime import tune_gc
    from ..store.store import RollbackMark, Store, StoreError

    tune_gc()
    config = recv(rfd)
    if config is None:
        return 0
    try:
        key = config.get("key")
        store = Store.open(config["url"], create=False, busy_timeout_ms=config["busy_timeout_ms"],
                           key=key.encode("latin-1") if key is not None else None,
                           pragmas=config["pragmas"] or None)
    except Exception as e:  # the node keeps journaling in-process
        send(wfd, {"error": type(e).__name__, "message": str(e)})
        return 1
    store.fence = config.get("fence")  # the node's leader epoch: checked in every append's transaction
    store.notify = bool(config.get("notify", store.notify))  # PostgreSQL: NOTIFY the standby
    send(wfd, {"ready": True})
    try:
        while True:
            msg = recv(rfd)
            if msg is None:
                return 0
            try:
                head = store.append_journal([tuple(r) for r in msg["rows"]],
                                            [RollbackMark(*m) for m in msg["marks"]])
            except StoreError as e:
                send(wfd, {"error": type(e).__name__, "message": str(e)})
            except Exception as e:  # a bug: nothing was written (the transaction rolled back)
                send(wfd, {"error": "internal", "message": f"journal write failed: {e!r}"})
            else:
                send(wfd, {"head": head})
    except (BrokenPipeError, EOFError):  # the node went away: nothing left to do
        return 0
    finally:
        store.close()


# ---- the node's side ---------------------------------------------------------
class WriterGone(Exception):
    """The writer process exited or cannot be reached (the node journals in-process again)."""


class WriterStalled(WriterGone):
    """The writer process did not take or acknowledge a batch within the timeout (stopped, hung).
    It may still hold the batch: the node kills it (:meth:`WriterProcess.kill`) before deciding
    whether the batch was committed, so it can never commit it late."""


class WriterProcess:
    """The node's handle on one journal writer process (used by the node's writer thread only).

    Started from the thread that will use it (the process dies with that thread on Linux).
    Until it reports ready (it imports the store and opens the database: a second or so)
    :meth:`ready` is False and the node keeps appending in-process.
    """

    def __init__(self, config: dict) -> None:
        import subprocess

        to_r, to_w = os.pipe()  # node -> writer
        from_r, from_w = os.pipe()  # writer -> node
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.node.journalwriter", str(to_r), str(from_w), str(os.getpid())],
                pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env)  # (its errors come back as frames; a console owns the tty)
        except BaseException:
            os.close(to_w)
            os.close(from_r)
            raise
        finally:
            os.close(to_r)
            os.close(from_w)
        self._w: int | None = to_w
        self._r: int | None = from_r
        try:  # a batch in one or two writes (Linux; the watchdog's writes do not block: see _send_until)
            import fcntl

            fcntl.fcntl(to_w, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (ImportError, AttributeError, OSError):
            pass
        self._ready = False
        self._failed: str | None = None
        self._lock = threading.Lock()  # ready() may be asked from a thread waiting for it, too
        try:
            send(to_w, config)  # a few hundred bytes: the pipe takes them without blocking
        except OSError as e:
            self._failed = repr(e)

    def ready(self) -> bool:
        """True once the process has opened the store (never blocks); raises WriterGone if it failed."""
        if self._ready:
            return True
        import select

        with self._lock:
            if self._ready:
                return True
            if self._failed is None:
                try:
                    if not select.select([self._r], [], [], 0)[0]:
                        return False
                    msg = recv(self._r)
                except (OSError, EOFError, ValueError) as e:
                    self._failed = repr(e)
                else:
                    if isinstance(msg, dict) and msg.get("ready"):
                        self._ready = True
                        return True
                    self._failed = str((msg or {}).get("message", "it exited"))
            raise WriterGone(f"the journal writer process failed to start: {self._failed}")

    def append(self, rows, marks, timeout: float | None = None) -> tuple[int, str]:
        """Append one batch through the process; raises the store's error, or WriterGone
        (WriterStalled when it has not acknowledged the batch ``timeout`` seconds after it was sent).

        A row that orjson cannot encode raises TypeError/orjson.JSONEncodeError before anything
        is sent (the caller then appends in-process, which reports it as the store would)."""
        data = orjson.dumps({"rows": rows, "marks": marks}, default=tuple)
        try:
            if timeout is None:
                write_all(self._w, _LEN.pack(len(data)) + data)
                msg = recv(self._r)
            else:
                deadline = time.monotonic() + timeout
                self._send_until(_LEN.pack(len(data)) + data, deadline)
                msg = self._recv_until(deadline)
        except WriterStalled:
            raise
        except (OSError, EOFError, ValueError) as e:
            raise WriterGone(f"the journal writer process went away: {e!r}") from None
        if msg is None:
            raise WriterGone(f"the journal writer process exited (status {self.proc.poll()})")
        head = msg.get("head")
        if head is not None:
            return head[0], head[1]
        from ..store import store as store_mod

        cls = getattr(store_mod, str(msg.get("error")), None)
        if not (isinstance(cls, type) and issubclass(cls, store_mod.StoreError)):
            cls = store_mod.StoreError
        raise cls(msg.get("message", "the journal write failed"))

    def _stalled(self, timeout_what: str) -> WriterStalled:
        return WriterStalled(f"the journal writer process (pid {self.proc.pid}) did not {timeout_what} "
                             f"in time: it is stopped or hung")

    def _send_until(self, data: bytes, deadline: float) -> None:
        """Write a frame without ever blocking past ``deadline`` (a stopped reader fills the pipe)."""
        import select

        fd = self._w
        view = memoryview(data)
        os.set_blocking(fd, False)
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [fd], [], left)[1]:
                    raise self._stalled("take the batch")
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue
        finally:
            os.set_blocking(fd, True)

    def _recv_until(self, deadline: float):
        """One frame, waiting at most until ``deadline`` for it to start (the reply is one small
        write: whole once it is readable)."""
        import select

        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self._r], [], [], left)[0]:
            raise self._stalled("acknowledge the batch")
        return recv(self._r)

    def kill(self) -> None:
        """Kill the process (SIGKILL works on a stopped one too) and reap it: once this returns it
        can commit nothing more (SQLite rolls an uncommitted transaction back, PostgreSQL aborts
        the dead session's)."""
        try:
            self.proc.kill()
        except OSError:  # already gone
            pass
        self.proc.wait()
        for name in ("_w", "_r"):
            fd = getattr(self, name)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, None)

    def close(self, timeout: float = 10.0) -> None:
        """Close the pipe (the process finishes its current batch, if any, and exits); wait for it."""
        import subprocess

        if self._w is not None:
            os.close(self._w)
            self._w = None
        if not self._ready:  # still starting (it has written nothing): do not wait for its imports
            self.proc.kill()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._r is not None:
            os.close(self._r)
            self._r = None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
