"""Middleware that must run before Django's host and HTTPS checks.

``RequestIdMiddleware`` gives every request an id (the caller's ``X-Request-ID`` when it
looks sane, else a new one), exposes it to every log line through ``config.logs.REQUEST_ID``
and echoes it in the response. ``HealthMiddleware`` answers the liveness and readiness
paths itself: a load balancer probes over plain HTTP with the task's IP as Host, which
``ALLOWED_HOSTS`` and ``SECURE_SSL_REDIRECT`` would otherwise turn into 400 or 301.
"""

from __future__ import annotations

import re
import uuid

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import JsonResponse

from config import contract
from config.health import cached_readiness, public_view
from config.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only if it cannot inject anything into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def valid_request_id(candidate: str) -> bool:
    return bool(_VALID_REQUEST_ID.match(candidate))


def incoming_request_id(request) -> str:
    """The caller's X-Request-ID if well formed, else a new random id."""
    candidate = request.META.get("HTTP_X_REQUEST_ID", "")
    return candidate if valid_request_id(candidate) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = incoming_request_id(request)
        # Cleared by the request_finished signal, not here: Django logs 4xx/5xx responses
        # after the middleware chain returns, and those lines carry the id too.
        REQUEST_ID.set(request.request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


@receiver(request_finished)
def clear_request_id(**kwargs) -> None:
    REQUEST_ID.set(None)


class HealthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path.rstrip("/") or "/"
        if path == contract.HEALTH_PATH:
            return _no_store(JsonResponse({"status": "ok"}))
        if path == contract.READY_PATH:
            report = cached_readiness()
            shown = report if from_inside_the_vpc(request) else public_view(report)
            return _no_store(JsonResponse(shown, status=200 if report["status"] == "ok" else 503))
        return self.get_response(request)


def from_inside_the_vpc(request) -> bool:
    """True for a request that did not come through the load balancer's listener: the ALB adds
    X-Forwarded-For to every request it forwards, its health checker sends none (ELB docs, "HTTP
    headers and Application Load Balancers" and "Health checks for Application Load Balancer target
    groups"). The task's security group admits only the ALB, so the rest is a probe or a one-off
    task inside the VPC (keel status), or a local run."""
    return "HTTP_X_FORWARDED_FOR" not in request.META


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response
