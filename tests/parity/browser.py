"""HTTP as the load balancer and a user's browser send it to a web task.

The load balancer terminates TLS: requests reach the task over plain HTTP, with the public Host
and ``X-Forwarded-Proto: https``. Its health probe sends neither: the Host is the task's IP.
Cookies are kept by hand because the app marks them Secure, which an HTTP client library
would (rightly) never send over the plain-HTTP hop to the task.
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie

TASK_IP = "10.0.11.23"  # a private-subnet address like the one a target group probes


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def send(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
         timeout: float = 15) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


def probe(port: int, path: str) -> Response:
    """A target-group health check: plain HTTP, the task's IP and port as Host, no forwarding headers."""
    return send(port, "GET", path, {"Host": f"{TASK_IP}:{port}", "User-Agent": "ELB-HealthChecker/2.0"}, timeout=5)


class Browser:
    """A signed-in user's browser on https://HOST, through the load balancer to ``port``."""

    def __init__(self, port: int, host: str) -> None:
        self.port = port
        self.host = host
        self.cookies: dict[str, str] = {}

    @property
    def origin(self) -> str:
        return f"https://{self.host}"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        sent = {"Host": self.host, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
                "X-Request-ID": uuid.uuid4().hex}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in ("GET", "HEAD"):
            sent.update({"Origin": self.origin, "Referer": self.origin + path})
            if "csrftoken" in self.cookies:
                sent["X-CSRFToken"] = self.cookies["csrftoken"]
        sent.update(headers or {})
        response = send(self.port, method, path, sent, body)
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def sign_in(self, username: str, password: str) -> Response:
        """The login form, as a person fills it in: GET it (CSRF cookie and token), POST it."""
        form = self.request("GET", "/accounts/login/")
        assert form.status == 200, f"login page: {form.status} {form.text[:300]}"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, "login page has no CSRF token field"
        body = (f"csrfmiddlewaretoken={token.group(1)}&username={username}&password={password}").encode()
        return self.request("POST", "/accounts/login/", body,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def upload(self, name: str, content: bytes, content_type: str = "text/plain") -> Response:
        """POST /api/documents/ with the file as multipart form data, CSRF token in X-CSRFToken."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: {content_type}\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", "/api/documents/", body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"})
