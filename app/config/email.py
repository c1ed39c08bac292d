"""Email, attached by URL like every backing service (factor IV): ``EMAIL_URL``.

``smtp+tls://``, ``smtp+ssl://``, ``consolemail://`` ... are django-environ's email URLs.
``ses://REGION`` is ours: Amazon SES's API through django-ses and boto3, so the ECS task role
signs the requests and no long-lived SMTP credential exists anywhere (SES's SMTP interface
needs an IAM user's access key turned into an SMTP password). It leaves over HTTPS (443), which
the tasks may already reach, so it needs no SMTP egress. See docs/configuration.md, "Email".
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import environ
from django.core.mail.backends.base import BaseEmailBackend

CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
SES_BACKEND = "django_ses.SESBackend"
UNCONFIGURED_BACKEND = "config.email.UnconfiguredBackend"

logger = logging.getLogger("keel.email")


def email_settings(url: str, debug: bool) -> dict[str, Any]:
    """Django's ``EMAIL_*`` settings (django-ses's ``AWS_SES_*`` for ses://) for an EMAIL_URL."""
    if not url:
        return {"EMAIL_BACKEND": CONSOLE_BACKEND if debug else UNCONFIGURED_BACKEND}
    parts = urlsplit(url)
    if parts.scheme == "ses":
        query = dict(parse_qsl(parts.query))
        return {
            "EMAIL_BACKEND": SES_BACKEND,
            "USE_SES_V2": True,  # SESv2 SendEmail: one IAM action, ses:SendEmail
            "AWS_SES_REGION_NAME": parts.hostname,
            # None, not django-ses's fixed https://email.REGION.amazonaws.com: boto3 then resolves the
            # endpoint itself and honours AWS_ENDPOINT_URL_SESV2 (a VPC endpoint, a test server).
            "AWS_SES_REGION_ENDPOINT_URL": None,
            "AWS_SES_CONFIGURATION_SET": query.get("configuration_set"),
            # Off: throttling asks SES for the account's send rate (GetAccount) before every batch, an
            # extra call and IAM action per email, and each process would throttle only itself anyway.
            "AWS_SES_AUTO_THROTTLE": None,
        }
    return environ.Env.email_url_config(url)


class UnconfiguredBackend(BaseEmailBackend):
    """Production without EMAIL_URL: nothing is sent, and each message says so in the logs.

    Only the subject and the number of recipients are logged: a body can hold a password-reset
    link, which is as good as the password.
    """

    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.warning(
                "email not sent: EMAIL_URL is not set (on AWS: pulumi config set keel:email ses)",
                extra={"subject": message.subject, "recipients": len(message.recipients())},
            )
        return 0
