"""Middleware that must run before Django's host and HTTPS checks.

``RequestIdMiddleware`` gives every request an id (the caller's ``X-Request-ID`` when it
looks sane, else a new one), exposes it to every log line through ``config.logs.REQUEST_ID``
and echoes it in the response. ``HealthMiddleware`` answers the liveness and readiness
paths itself: a load balancer probes over plain HTTP with the task's IP as Host, which
``ALLOWED_HOSTS`` and ``SECURE_SSL_REDIRECT`` would otherwise turn into 400 or 301.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import JsonResponse

from config import contract
from config.health import cached_readiness, public_view
from config.logs import CLIENT_REQUEST_ID, OWN_REQUEST_ID_ENVIRON, REQUEST_ID, valid_request_id

REQUEST_ID_HEADER = "X-Request-ID"
def client_request_id(request) -> str | None:
    """The caller's X-Request-ID if it looks like an id (safe characters, at most 128), else None."""
    candidate = request.META.get("HTTP_X_REQUEST_ID", "")
    return candidate if valid_request_id(candidate) else None


class RequestIdMiddleware:
    """Our own random id for every request, on every log line as ``request_id``; a caller's
    well-formed X-Request-ID is kept beside it (``client_request_id``), never instead of it, so no
    caller can make its lines look like another request's. The response echoes the caller's id
    when it sent one (so it can match its own records), else ours."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4().hex
        request.client_request_id = client_request_id(request)
        request.META[OWN_REQUEST_ID_ENVIRON] = request.request_id
        # Cleared by the request_finished signal, not here: Django logs 4xx/5xx responses
        # after the middleware chain returns, and those lines carry the id too.
        REQUEST_ID.set(request.request_id)
        CLIENT_REQUEST_ID.set(request.client_request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.client_request_id or request.request_id
        return response


@receiver(request_finished)
def clear_request_id(**kwargs) -> None:
    REQUEST_ID.set(None)
    CLIENT_REQUEST_ID.set(None)


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


class PermissionsPolicyMiddleware:
    """Permissions-Policy (settings.PERMISSIONS_POLICY) on every response; Django has no setting."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.PERMISSIONS_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", self.policy)
        return response
