"""The maintenance page as users get it: the load balancer's fixed response, rendered by Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from keel.evaluate import evaluate_stack

from tests import chromium
from tests.loopback import serve

from .test_maintenance import serving_listener


@pytest.fixture(scope="module")
def fixed_response():
    """What the stack tells the load balancer to answer in maintenance (status, type, body)."""
    ev = evaluate_stack("staging", overrides={"keel:maintenance": "true"})
    (action,) = serving_listener(ev).inputs["defaultActions"]
    return action["fixedResponse"]


@pytest.fixture(scope="module")
def load_balancer(fixed_response):
    """A loopback server answering every path as the listener's default action would."""
    answer = (int(fixed_response["statusCode"]), {"Content-Type": fixed_response["contentType"]},
              fixed_response["messageBody"].encode())
    with serve(lambda path: answer) as url:
        yield url


def test_chromium_renders_the_page_with_its_message(load_balancer):
    dom = chromium.run(f"{load_balancer}/documents/", "--dump-dom")
    assert "<h2>Down for maintenance</h2>" in dom
    assert "back shortly" in dom


def test_the_page_fits_a_phone_and_loads_nothing_else(load_balancer, fixed_response, tmp_path: Path):
    shot = tmp_path / "maintenance.png"
    chromium.run(load_balancer + "/", f"--screenshot={shot}", width=375, height=700)
    assert shot.stat().st_size > 5000  # a rendered page, not a blank one
    # Self-contained: the load balancer serves only this body, so no stylesheet, script or image.
    body = fixed_response["messageBody"]
    assert "src=" not in body and "<link" not in body and "@import" not in body
