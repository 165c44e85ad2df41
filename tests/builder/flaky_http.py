"""A real HTTP server on 127.0.0.1 that serves a folder with byte ranges and injects failures on a schedule:
503s, connections reset midway through a body, and slow responses. Used to test remote inputs."""

from __future__ import annotations

import itertools
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FlakyServer:
    """Serve ``root``; every ``every``-th GET fails in turn as 503, reset midway, or slow (then succeeds)."""

    def __init__(self, root: Path, every: int = 3, slow_seconds: float = 0.3) -> None:
        self.root, self.every, self.slow_seconds = root, every, slow_seconds
        self.counter = itertools.count(1)
        self.failures = {"503": 0, "reset": 0, "slow": 0}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault(self) -> str | None:
        with self.lock:
            n = next(self.counter)
            if n % self.every:
                return None
            kind = ("503", "reset", "slow")[(n // self.every) % 3]
            self.failures[kind] += 1
            return kind

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> Path | None:
                path = outer.root / self.path.lstrip("/").split("?")[0]
                return path if path.is_file() else None

            def do_HEAD(self) -> None:  # noqa: N802
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(path.stat().st_size))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                path = self._file()
                if path is None:
                    self.send_error(404)
                    return
                size = path.stat().st_size
                start, end = 0, size - 1
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    a, _, b = rng[6:].partition("-")
                    start, end = int(a or 0), min(int(b) if b else size - 1, size - 1)
                fault = outer._fault()
                if fault == "503":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault == "slow":
                    time.sleep(outer.slow_seconds)
                with open(path, "rb") as f:
                    f.seek(start)
                    body = f.read(end - start + 1)
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if fault == "reset":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    os.close(os.dup(self.connection.fileno()))
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
