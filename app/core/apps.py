from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Keel core"

    def ready(self) -> None:
        # Importing the Celery app makes it current, so @shared_task binds to it (broker URL, retry
        # policy, serializers) in every process, web included; config/__init__.py must stay empty.
        import config.celery  # noqa: F401
