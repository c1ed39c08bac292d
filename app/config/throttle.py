"""Sign-in throttling: a few wrong passwords per minute per username and per client address.

Django's cache (Redis) and this small middleware rather than django-axes: axes records attempts
in database tables by default (a migration and a write per failure), needs its authentication
backend and signals wired in, and with its cache handler a Redis outage raises inside sign-in.
Here the whole rule is two atomic counters in the cache we already run, and it fails open: if
Redis does not answer, sign-in works unthrottled (logged) rather than not at all, and the
throttle is not retried for ``OUTAGE_SECONDS`` so each sign-in does not wait on a dead Redis.

Every POST to a sign-in form counts against its username and address before the view runs
(atomic increments, so a burst of parallel guesses is counted too); a successful sign-in takes
its attempt back and clears the username's count. Once a count passes its limit within
``WINDOW_SECONDS`` of its first attempt, the form answers 429 with Retry-After and a page saying
how long to wait.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.core.cache import caches
from django.shortcuts import render
from django.urls import reverse

from config.logs import client_address

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
LIMITS = {"username": 5, "address": 20}  # an office behind one NAT address signs in together
OUTAGE_SECONDS = 30
_cache_down_until = 0.0


def sign_in_paths() -> frozenset[str]:
    return frozenset({reverse("login"), reverse("admin:login")})


def _key(kind: str, value: str) -> str:
    return f"signin:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def _subjects(request) -> dict[str, str]:
    subjects = {"address": _key("address", client_address(request.META))}
    username = request.POST.get("username", "").strip().lower()
    if username:
        subjects["username"] = _key("username", username)
    return subjects


def _count_attempt(key: str) -> tuple[int, float]:
    """(attempts so far in this key's window, including this one; seconds until the window ends)."""
    cache = caches["default"]
    now = time.time()
    cache.add(f"{key}:start", now, WINDOW_SECONDS)
    cache.add(key, 0, WINDOW_SECONDS)
    count = cache.incr(key)
    start = cache.get(f"{key}:start") or now
    return count, max(1.0, start + WINDOW_SECONDS - now)


def _cache_usable() -> bool:
    return time.monotonic() >= _cache_down_until


def _cache_failed(exc: Exception) -> None:
    global _cache_down_until
    _cache_down_until = time.monotonic() + OUTAGE_SECONDS
    logger.warning("sign-in throttling off for %s s: the cache is unavailable (%s)", OUTAGE_SECONDS,
                   type(exc).__name__)


class LoginThrottleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.paths: frozenset[str] | None = None

    def __call__(self, request):
        if request.method != "POST":
            return self.get_response(request)
        if self.paths is None:
            self.paths = sign_in_paths()
        if request.path not in self.paths:
            return self.get_response(request)
        subjects = _subjects(request) if _cache_usable() else {}
        wait = 0.0
        try:
            for kind, key in subjects.items():
                count, remaining = _count_attempt(key)
                if count > LIMITS[kind]:
                    wait = max(wait, remaining)
        except Exception as exc:  # noqa: BLE001 - any cache failure: sign-in goes on unthrottled
            _cache_failed(exc)
            subjects = {}
        if wait:
            return self.refuse(request, math.ceil(wait))
        response = self.get_response(request)
        if subjects and response.status_code in (301, 302, 303) and request.user.is_authenticated:
            self.forgive(subjects)
        return response

    def refuse(self, request, seconds: int):
        logger.warning("sign-in throttled for %s s", seconds, extra={"client": client_address(request.META)})
        response = render(request, "registration/throttled.html", {"seconds": seconds}, status=429)
        response["Retry-After"] = str(seconds)
        return response

    def forgive(self, subjects: dict[str, str]) -> None:
        try:
            cache = caches["default"]
            if "username" in subjects:
                cache.delete_many([subjects["username"], f"{subjects['username']}:start"])
            cache.decr(subjects["address"])
        except ValueError:
            pass  # the address's window ended meanwhile
        except Exception as exc:  # noqa: BLE001
            _cache_failed(exc)
