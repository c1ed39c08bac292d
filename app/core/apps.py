import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("config.security")


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Keel core"

    def ready(self) -> None:
        # No Celery here: web imports it only when it first enqueues a task (documents.tasks binds
        # to config.celery's app itself), so start-up never pays for celery, kombu and redis.
        if not settings.DEBUG and not settings.HTTPS_ONLY:
            # Here, not in settings: logging is configured by now, so the line is JSON like the rest.
            logger.warning(
                "DJANGO_HTTPS is false in production mode: no HTTPS redirect, cookies without Secure, no HSTS; "
                "only for a stack without a domain (dev), never in production"
            )
