"""Fixtures for the release tests: stubbed AWS clients and a fake clock (see stubs.py)."""

from __future__ import annotations

import pytest
from moto.server import ThreadedMotoServer

from .stubs import FakeClock, make_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _stubbed(service: str):
    client = make_client(service)
    yield client
    client.stubber.deactivate()
    client.stubber.assert_no_pending_responses()


@pytest.fixture
def ecs():
    yield from _stubbed("ecs")


@pytest.fixture
def logs():
    yield from _stubbed("logs")


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto server on loopback (S3, STS, CloudWatch Logs...), one per test module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
