"""Django's Redis cache with one client per connection pool, and a variant that degrades instead
of failing, for the session alias only.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` around the pool on every
cache call (about 0.03 ms of CPU each time, several calls per signed-in request); ``RedisCache``
here builds it once per pool and reuses it. A ``redis.Redis`` on a pool is safe to share between
threads and across a fork (the pool drops its parent's connections in the child).

Sessions are ``cached_db``: the database holds every session and Redis is a read-through
copy. Django's backend still raises when Redis is down, which would turn a cache outage
into errors for every signed-in user; here a Redis error reads as a miss and a skipped
write (logged as a warning), so users stay signed in from the database copy.
"""

from __future__ import annotations

import logging

from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class PooledClientRedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = PooledClientRedisCacheClient


def _warn(operation: str, exc: Exception) -> None:
    logger.warning("session cache %s skipped: Redis is unavailable (%s)", operation, exc)


class FailSoftRedisCache(RedisCache):
    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            _warn("read", exc)
            return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            _warn("write", exc)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except RedisError as exc:
            _warn("write", exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except RedisError as exc:
            _warn("delete", exc)
            return False

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except RedisError as exc:
            _warn("read", exc)
            return False
