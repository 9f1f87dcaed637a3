"""The venue's read cache: one engine read per (route, parameters, role, head), its JSON bytes reused.

N clients asking the same read at the same journal head cost one engine read (the engine lock taken once,
the sequencer parked once) and one encoding; the others get the same bytes. An answer is cached under
the *stamp* of the venue when its request arrived:

- the engine object (a recovery or a restore replaces it: nothing cached before is served after),
- the engine's head seq (moves the moment a batch is applied, before it is published),
- the count of batches the node has published to its subscribers (node alerts, which are not
  journaled, and the event feed's buffers move with it: this subscriber is registered after the
  feed's, so the feed has taken a batch before the count says so).

The stamp is read *before* the read itself, so an answer cached under a stamp reflects at least the
state the stamp names; a request served from the cache gets exactly what a request computed at that
head would have got. Once the head moves, the entry is stale and the next request recomputes it.

Keys carry the caller's role: no read filters by role today, but if one ever does, a viewer cannot be
served an answer computed for an admin. Reads whose answer does not follow the head (the audit log,
refunds, stored snapshots, alert deliveries, feed health, presence) are never cached (:data:`CACHEABLE`).

Bounded: at most ``max_entries`` answers and ``max_bytes`` bytes (least recently used dropped first);
an answer larger than ``max_bytes // 8`` is served but not kept. ``PERPDESK_READ_CACHE=0`` turns it off.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable

#: gateway reads whose answer is a function of the engine state at the head (and the node's published
#: status: epochs, alerts, fenced, fail-stopped: each change of the last three is a published node alert)
CACHEABLE_READS = frozenset({
    "status", "markets", "account", "accounts", "book", "accounts_by_risk", "reopen_backlog", "checks",
    "brake_preview", "maintenance_windows", "rollback_preview",
})
#: event-feed reads (the feed's buffers move only when the node publishes a batch)
CACHEABLE_FEED_READS = frozenset({
    "counters", "liquidations", "liquidations_since", "mark_history", "mark_histories", "recent_trades",
    "fund_history", "recent_alerts", "restored_from", "sizes",
})
CACHEABLE = frozenset({("reads", n) for n in CACHEABLE_READS} | {("feed", n) for n in CACHEABLE_FEED_READS})

MAX_ENTRIES = 512
MAX_BYTES = 64 * 2**20


def enabled_by_env() -> bool:
    return os.environ.get("PERPDESK_READ_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


class ReadCache:
    """Subscribe it to the node (:meth:`attach`) after the event feed; ask it with :meth:`get`."""

    def __init__(self, node, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 enabled: bool = True) -> None:
        self.node = node
        self.enabled = enabled
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.published = 0  # batches the node has published (bumped on the sequencer thread)
        self._lock = threading.Lock()
        # key -> (engine, seq, published, extra, bytes)
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._bytes = 0
        self._inflight: dict[tuple, tuple[tuple, threading.Event]] = {}
        self.hits = 0
        self.misses = 0
        self._detach: Callable[[], None] | None = None

    # ---- the head ---------------------------------------------------------------------------
    def attach(self) -> ReadCache:
        self._detach = self.node.subscribe(self._on_publish)
        return self

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None

    def _on_publish(self, events: list[dict]) -> None:
        self.published += 1

    def stamp(self, name: str = "") -> tuple:
        """What an answer computed now is valid for: (engine, head seq, published batches, node extras)."""
        node = self.node
        eng = node.engine
        # the node's own status fields: fenced / fail-stopped always come with a published node alert
        # (counted above); the epochs are read here
        extra = (node.epoch, node.leader_epoch) if name == "status" else None
        return (eng, eng.seq, self.published, extra)

    # ---- answers ----------------------------------------------------------------------------
    def get(self, key: tuple, compute: Callable[[], bytes], *, wait: bool = False) -> bytes:
        """The cached bytes of ``key`` at the current stamp, else ``compute()`` (kept under the stamp
        read before computing). ``wait``: when another thread is computing the same key at the same
        stamp, wait for its answer instead of computing it again (never on the event loop)."""
        if not self.enabled:
            return compute()
        st = self.stamp(key[1] if len(key) > 1 else "")
        mine: threading.Event | None = None
        while True:
            with self._lock:
                e = self._entries.get(key)
                if e is not None and _same(e, st):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return e[4]
                fl = self._inflight.get(key)
                if fl is None or not wait or not _same(fl[0], st):
                    mine = threading.Event()
                    self._inflight[key] = (st, mine)
                    self.misses += 1
                    break
                other = fl[1]
            other.wait(5.0)
            if not other.is_set():  # the other request is slow: do not queue behind it any longer
                with self._lock:
                    self.misses += 1
                return compute()
        try:
            data = compute()
        finally:
            with self._lock:
                fl = self._inflight.get(key)
                if fl is not None and fl[1] is mine:
                    del self._inflight[key]
            mine.set()
        if len(data) <= self.max_bytes // 8:
            self._keep(key, st, data)
        return data

    def _keep(self, key: tuple, st: tuple, data: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[4])
            self._entries[key] = (st[0], st[1], st[2], st[3], data)
            self._bytes += len(data)
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                _k, gone = self._entries.popitem(last=False)
                self._bytes -= len(gone[4])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict:
        with self._lock:
            return {"enabled": self.enabled, "entries": len(self._entries), "bytes": self._bytes,
                    "hits": self.hits, "misses": self.misses}


def _same(e: tuple, st: tuple) -> bool:
    return e[0] is st[0] and e[1] == st[1] and e[2] == st[2] and e[3] == st[3]


__all__ = ["CACHEABLE", "ReadCache", "enabled_by_env"]
