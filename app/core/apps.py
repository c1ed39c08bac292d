import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("config.security")


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Keel core"

    def ready(self) -> None:
        # Importing the Celery app makes it current, so @shared_task binds to it (broker URL, retry
        # policy, serializers) in every process, web included; config/__init__.py must stay empty.
        import config.celery  # noqa: F401

        if not settings.DEBUG and not settings.HTTPS_ONLY:
            # Here, not in settings: logging is configured by now, so the line is JSON like the rest.
            logger.warning(
                "DJANGO_HTTPS is false in production mode: no HTTPS redirect, cookies without Secure, no HSTS; "
                "only for a stack without a domain (dev), never in production"
            )
