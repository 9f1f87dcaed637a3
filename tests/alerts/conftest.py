from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """A real HTTP server on loopback that records every POST (path, headers, JSON body)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.script: dict[str, list[tuple[int, dict, bytes]]] = {}  # path -> responses to give first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                path = self.path.split("?")[0]
                with receiver.lock:
                    receiver.posts.append({"path": self.path, "headers": dict(self.headers),
                                           "json": json.loads(raw)})
                    queue = receiver.script.get(path)
                    scripted = queue.pop(0) if queue else None
                if scripted is not None:
                    status, headers, body = scripted
                else:
                    status, headers, body = receiver.default(path, json.loads(raw))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def default(path: str, body: dict) -> tuple[int, dict, bytes]:
        if path.startswith("/slack"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if path.startswith("/v2/enqueue"):
            return 202, {"Content-Type": "application/json"}, json.dumps(
                {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}).encode()
        if path.startswith("/api/webhooks/"):
            return 200, {"Content-Type": "application/json"}, b'{"id": "1", "type": 0}'
        return 200, {"Content-Type": "application/json"}, b'{"ok": true}'

    def to(self, prefix: str) -> list[dict]:
        with self.lock:
            return [p for p in self.posts if p["path"].startswith(prefix)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
