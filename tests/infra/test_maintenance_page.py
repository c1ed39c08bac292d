"""The maintenance page as users get it: the function's answer, over HTTP, rendered by Chromium.

The handler is the one the stack deploys (infra/keel/maintenance/handler.py), called as the load
balancer calls a Lambda target (ELB docs, "Lambda functions as targets": an event per request, a
response of statusCode, headers and body), served on loopback to a real browser.
"""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from keel.maintenance.handler import handler

from tests import chromium
from tests.loopback import serve

ALB_EVENT = {"requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}},
             "httpMethod": "GET", "path": "/documents/", "headers": {"host": "app.example.org"}, "body": "",
             "isBase64Encoded": False}


@pytest.fixture(scope="module")
def load_balancer():
    """Loopback HTTP answering every path with the function's response, as the load balancer relays it."""
    def answer(path):
        response = handler({**ALB_EVENT, "path": path}, None)
        return response["statusCode"], response["headers"], response["body"].encode()

    with serve(answer) as url:
        yield url


def test_every_path_is_a_503_with_retry_after(load_balancer):
    host, port = load_balancer.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    assert response.status == 503
    assert response.getheader("Retry-After") == "300"
    assert response.getheader("Cache-Control") == "no-store"
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b"Down for maintenance" in response.read()


def test_a_head_request_gets_the_headers_alone():
    response = handler({**ALB_EVENT, "httpMethod": "HEAD"}, None)
    assert response["statusCode"] == 503 and response["body"] == "" and "Retry-After" in response["headers"]


def test_chromium_renders_the_page_with_its_message(load_balancer):
    dom = chromium.run(f"{load_balancer}/documents/", "--dump-dom")
    assert "<h2>Down for maintenance</h2>" in dom
    assert "back shortly" in dom


def test_the_page_fits_a_phone_and_loads_nothing_else(load_balancer, tmp_path: Path):
    shot = tmp_path / "maintenance.png"
    chromium.run(load_balancer + "/", f"--screenshot={shot}", width=375, height=700)
    assert shot.stat().st_size > 5000  # a rendered page, not a blank one
    # Self-contained: the function serves only this page, so no stylesheet, script or image.
    body = handler(ALB_EVENT, None)["body"]
    assert "src=" not in body and "<link" not in body and "@import" not in body
