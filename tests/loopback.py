"""A tiny HTTP server on loopback standing in for what AWS serves over plain HTTP(S) in a test."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Respond = Callable[[str], tuple[int, dict[str, str], bytes]]  # path -> (status, headers, body)


@contextmanager
def serve(respond: Respond) -> Iterator[str]:
    """Answer every GET with ``respond(path)``; yields the server's base URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = respond(self.path)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
