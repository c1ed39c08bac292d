"""Sign-in throttling (config/throttle.py) on the real Redis of the test run."""

from __future__ import annotations

import itertools
import re

import pytest
from config import throttle
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "the-right-password-9341"
DEAD_REDIS = "redis://127.0.0.1:9/0"
_addresses = (f"203.0.113.{n}" for n in itertools.count(10))


@pytest.fixture(autouse=True)
def fast_hashing_and_a_working_throttle(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    throttle._cache_down_until = 0.0
    forget_counts()  # a run a minute ago used the same names and addresses
    yield
    throttle._cache_down_until = 0.0


def forget_counts() -> None:
    from django.core.cache import caches

    redis = caches["default"]._cache.get_client(write=True)
    for key in redis.scan_iter("*signin:*"):
        redis.delete(key)


@pytest.fixture
def account(django_user_model, request):
    """A staff user with a name of its own, so counts never carry over between tests."""
    name = re.sub(r"\W", "", request.node.name)[-30:]
    return django_user_model.objects.create_user(name, password=PASSWORD, is_staff=True, is_superuser=True)


def browser(address: str | None = None) -> Client:
    forwarded = f"198.51.100.1, {address or next(_addresses)}"  # the ALB appended the right-most one
    return Client(headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": forwarded})


def sign_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_sixth_wrong_password_within_a_minute_is_refused_with_the_wait(account, path):
    client = browser()
    for _ in range(5):
        assert sign_in(client, account.username, "wrong", path).status_code == 200  # the form, with its error

    refused = sign_in(client, account.username, "wrong", path)
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= throttle.WINDOW_SECONDS
    assert f"Try again in {wait} second" in refused.content.decode()
    # Even the right password waits: the guesser must not learn it was right.
    assert sign_in(client, account.username, PASSWORD, path).status_code == 429


def test_the_count_follows_the_username_across_addresses(account):
    for _ in range(5):
        sign_in(browser(), account.username, "wrong")
    assert sign_in(browser(), account.username, "wrong").status_code == 429


def test_one_address_guessing_many_usernames_is_refused(account):
    address = next(_addresses)
    for number in range(throttle.LIMITS["address"]):
        assert sign_in(browser(address), f"nobody{number}", "wrong").status_code == 200
    assert sign_in(browser(address), "nobody-else", "wrong").status_code == 429
    assert sign_in(browser(), account.username, PASSWORD).status_code == 302  # other addresses are unaffected


def test_the_address_is_the_one_the_load_balancer_appended_not_the_clients_claim(account):
    address = next(_addresses)
    for number in range(throttle.LIMITS["address"]):
        spoofed = Client(headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": f"10.9.{number}.1, {address}"})
        sign_in(spoofed, f"nobody{number}", "wrong")
    assert sign_in(browser(address), "nobody-else", "wrong").status_code == 429


def test_signing_in_clears_the_usernames_count(account):
    client = browser()
    for _ in range(4):
        sign_in(client, account.username, "wrong")
    assert sign_in(client, account.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(5):
        assert sign_in(client, account.username, "wrong").status_code == 200


def test_with_redis_down_sign_in_still_works(account, settings):
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                      "LOCATION": DEAD_REDIS}}
    client = browser()
    for _ in range(6):
        assert sign_in(client, account.username, "wrong").status_code == 200
    assert sign_in(client, account.username, PASSWORD).status_code == 302
