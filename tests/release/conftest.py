"""Fixtures for the release tests: stubbed AWS clients and a fake clock (see stubs.py)."""

from __future__ import annotations

import pytest

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
