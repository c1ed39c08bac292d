"""Bench-only settings: the app's own, minus the response-header and sign-in middleware of issue 14
(CSP, Permissions-Policy, sign-in throttling), to measure what they cost on the documents list.
Started with DJANGO_SETTINGS_MODULE=bench.apps.unhardened_settings; never part of the product."""

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

HARDENING_MIDDLEWARE = ("csp.middleware.CSPMiddleware", "config.middleware.PermissionsPolicyMiddleware",
                        "config.throttle.LoginThrottleMiddleware")
MIDDLEWARE = [name for name in MIDDLEWARE if name not in HARDENING_MIDDLEWARE]
