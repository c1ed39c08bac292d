"""gunicorn's threaded worker with a buffering front: a request reaches a thread only when whole.

gunicorn's ``gthread`` worker hands a connection to one of its ``threads`` as soon as its first
bytes arrive; the thread then reads the headers and body with blocking calls and no time limit.
Eight connections that send a body at 2 bytes a second hold every thread of a task, and the load
balancer's ``/healthz`` probe times out. The ALB streams request bodies to the target as they
arrive, so it shields nothing.

This worker reads each request (headers and body) in the worker's own event loop, which already
waits on every idle keep-alive connection without a thread, and submits it to the thread pool
only once it is complete, replayed from memory at loopback speed. A slow sender costs a socket
and its bytes, never a thread. What nginx's ``proxy_request_buffering`` does in front of gunicorn
(gunicorn's deployment docs recommend a buffering proxy for exactly this), without a second
process, a second hop or a second graceful-shutdown to coordinate.

Limits, each answered with one JSON line and the connection closed:

* headers complete within ``HEADER_SECONDS`` (10 s) of the request's first byte: 408;
* the body at least ``MIN_BODY_RATE`` (4 KiB/s, 32 kbit/s) on average after a ``BODY_GRACE``
  (10 s) head start: 408. A 10 MB upload from a phone on a poor 2G/EDGE uplink (about 100
  kbit/s) runs at 12 KiB/s, three times the floor; Apache's mod_reqtimeout defaults
  (``body=20,MinRate=500``) are the same shape, ours stricter because a buffered sender
  costs memory here;
* a declared body over ``max_body`` (the app's own DATA_UPLOAD_MAX_MEMORY_SIZE) or headers over
  ``MAX_HEADER_BYTES``: 413 / 431 before a byte of the body is read.

Memory is bounded per worker by ``MAX_BUFFERED_BYTES``: a request that would pass it is handed to
a thread unbuffered (today's behaviour), so the cap can slow an attack down to gunicorn's own
pace but never refuses an honest request.

Relies on gunicorn 27's ThreadWorker (``enqueue_req``, ``murder_pending``, ``TConn.data_ready``);
pyproject pins gunicorn to 27.x and tests/app/test_slow_senders.py runs the real server.
"""

from __future__ import annotations

import errno
import html
import json
import re
import selectors
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

HEADER_SECONDS = 10.0
BODY_GRACE = 10.0
MIN_BODY_RATE = 4096  # bytes per second, averaged since the body began
MAX_HEADER_BYTES = 64 * 1024
MAX_BUFFERED_BYTES = 256 * 1024 * 1024
RECV_BYTES = 256 * 1024


class Incomplete(Exception):
    """The buffer does not yet hold a whole request."""


class Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def header_end(buffer: bytes | bytearray) -> int:
    """Index just past the blank line that ends the headers, or -1."""
    end = buffer.find(b"\r\n\r\n")
    return -1 if end < 0 else end + 4


def header_values(head: bytes, name: bytes) -> list[bytes]:
    prefix = name.lower() + b":"
    return [line[len(prefix):].strip() for line in head.split(b"\r\n")[1:] if line.lower().startswith(prefix)]


def chunked_end(buffer: bytes | bytearray, start: int) -> int:
    """Index just past a complete chunked body starting at ``start``; raises Incomplete."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            raise Incomplete
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return len(buffer)  # malformed: let gunicorn's parser refuse it with its own 400
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            if buffer[line_end:line_end + 4] == b"\r\n\r\n":
                return line_end + 4
            if trailer_end < 0:
                raise Incomplete
            return trailer_end + 4
        position = line_end + 2 + size + 2
        if position > len(buffer):
            raise Incomplete


def request_end(buffer: bytes | bytearray, max_body: int) -> tuple[int, int]:
    """(end of the headers, end of the first whole request in ``buffer``); raises Incomplete or
    Refused. A request gunicorn will refuse anyway (conflicting lengths) counts as complete."""
    head_end = header_end(buffer)
    if head_end < 0:
        if len(buffer) > MAX_HEADER_BYTES:
            raise Refused(431, "Request Header Fields Too Large",
                          f"request headers over {MAX_HEADER_BYTES} bytes")
        raise Incomplete
    head = bytes(buffer[:head_end])
    if header_values(head, b"transfer-encoding"):
        return head_end, chunked_end(buffer, head_end)
    lengths = header_values(head, b"content-length")
    if len(lengths) != 1 or not lengths[0].isdigit():
        return head_end, head_end  # none, several or malformed: gunicorn decides
    length = int(lengths[0])
    if length > max_body:
        raise Refused(413, "Content Too Large", f"request body of {length} bytes is over the {max_body}-byte limit")
    if len(buffer) < head_end + length:
        raise Incomplete
    return head_end, head_end + length


def without_expect_continue(head: bytes) -> bytes:
    """The headers minus ``Expect: 100-continue``, which this worker has already answered."""
    lines = head.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.lower().replace(b" ", b"").startswith(b"expect:100-continue"))


def refusal(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message, "status": status}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class JsonErrorPages:
    """A stand-in for the client socket while gunicorn writes one of its own error pages
    (``util.write_error``: a request it cannot parse, a header it refuses): the HTML page becomes
    the app's JSON error shape, so even a request Django never sees gets ``{"error", "status"}``."""

    def __init__(self, sock) -> None:
        self._sock = sock

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(as_json_error_page(data))


def as_json_error_page(page: bytes) -> bytes:
    head, _, body = page.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    try:
        _, status, reason = status_line.split(" ", 2)
        code = int(status)
    except ValueError:
        return page
    message = html.unescape(re.sub(r"<[^>]+>", " ", body.decode("latin-1")))
    message = " ".join(message.split()).removeprefix(reason).strip()
    return refusal(code, reason, f"{reason}: {message}" if message else reason)


class Buffering:
    """One connection's request while it arrives."""

    def __init__(self, conn, data: bytes) -> None:
        self.conn = conn
        self.data = bytearray(data)
        self.started = time.monotonic()
        self.body_started: float | None = None
        self.body_start_size = 0
        self.continued = False

    def overdue(self, now: float) -> str | None:
        """Why this sender is too slow, or None."""
        if self.body_started is None:
            if now - self.started > HEADER_SECONDS:
                return f"request headers not complete within {HEADER_SECONDS:g} s"
            return None
        elapsed = now - self.body_started
        received = len(self.data) - self.body_start_size
        if elapsed > BODY_GRACE and received < MIN_BODY_RATE * (elapsed - BODY_GRACE):
            return (f"request body arrived at {received / elapsed:.0f} bytes/s, under the minimum of "
                    f"{MIN_BODY_RATE} bytes/s")
        return None


class BufferingThreadWorker(ThreadWorker):
    max_body = 11 * 1024 * 1024  # set from the app's limit by gunicorn.conf.py

    def init_process(self):
        self.buffering: dict[int, Buffering] = {}
        self.buffered_bytes = 0
        super().init_process()

    def enqueue_req(self, conn):
        if self.cfg.is_ssl or getattr(conn, "is_http2", False):
            return super().enqueue_req(conn)
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        state = Buffering(conn, leftover)
        conn.sock.setblocking(False)
        if not self._dispatch_if_complete(state):
            self.buffering[id(conn)] = state
            self.buffered_bytes += len(state.data)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, state))

    def _on_readable(self, state: Buffering, _sock) -> None:
        try:
            data = state.conn.sock.recv(RECV_BYTES)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            data = b""
        if not data:  # the client went away before its request was whole
            self._stop_buffering(state)
            self.nr_conns -= 1
            state.conn.close()
            return
        state.data += data
        self.buffered_bytes += len(data)
        if self._dispatch_if_complete(state):
            self._stop_buffering(state)
        elif self.buffered_bytes > MAX_BUFFERED_BYTES:
            # Over the worker's memory budget: this one goes to a thread as it is, like plain gthread.
            self._stop_buffering(state)
            self._submit(state.conn, bytes(state.data))

    def _dispatch_if_complete(self, state: Buffering) -> bool:
        """Submit the request to the thread pool (or refuse it) if it is whole; False if not yet."""
        try:
            head_end, end = request_end(state.data, self.max_body)
        except Incomplete:
            self._note_body_start(state)
            return False
        except Refused as refused:
            self._refuse(state.conn, refused.status, refused.reason, refused.message)
            return True
        head = bytes(state.data[:head_end])
        if state.continued:
            head = without_expect_continue(head)
        self._submit(state.conn, head + bytes(state.data[head_end:]))
        return True

    def _note_body_start(self, state: Buffering) -> None:
        if state.body_started is not None:
            return
        head_end = header_end(state.data)
        if head_end < 0:
            return
        state.body_started, state.body_start_size = time.monotonic(), head_end
        expects = header_values(bytes(state.data[:head_end]), b"expect")
        if expects and expects[0].lower() == b"100-continue" and b"HTTP/1.1\r\n" in state.data[:head_end]:
            # The client waits for this before sending the body; gunicorn would send it only
            # once a thread reads the body, which now happens after the body is here.
            try:
                state.conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                state.continued = True
            except OSError:
                pass

    def _submit(self, conn, data: bytes) -> None:
        conn.data_ready = True  # the thread must not wait for the socket: the bytes are here
        conn.sock.setblocking(True)
        if data:
            conn.init()
            conn.parser.unreader.unread(data)
        super().enqueue_req(conn)

    def _refuse(self, conn, status: int, reason: str, message: str) -> None:
        self.log.warning("refused a request from %s: %s", conn.client[0] if conn.client else "?", message,
                         extra={"status": status})
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(1.0)
            conn.sock.sendall(refusal(status, reason, message))
        except OSError:
            pass
        self.nr_conns -= 1
        conn.close()

    def _stop_buffering(self, state: Buffering) -> None:
        if self.buffering.pop(id(state.conn), None) is not None:
            self.buffered_bytes -= len(state.data)
            try:
                self.poller.unregister(state.conn.sock)
            except (KeyError, ValueError, OSError):
                pass

    def handle_error(self, req, client, addr, exc):
        super().handle_error(req, JsonErrorPages(client), addr, exc)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for state in list(self.buffering.values()):
            reason = state.overdue(now)
            if reason is not None:
                self._stop_buffering(state)
                self._refuse(state.conn, 408, "Request Timeout", reason)
