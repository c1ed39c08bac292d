"""``DatabaseWrapper``: Django's PostgreSQL wrapper whose password may come from Secrets Manager.

With ``settings_dict["PASSWORD_SECRET_ARN"]`` set (from ``DATABASE_SECRET_ARN``) the secret's
password wins over ``PASSWORD`` (``DATABASE_PASSWORD``, else the URL's). A refused password
(SQLSTATE 28P01, what RDS answers once it has rotated the secret) is re-read from the secret
and the connection retried once; a second refusal is an error naming the variable and the secret.
"""

from __future__ import annotations

import logging

from django.db.backends.postgresql import base

from config.postgres import password as secret
from config.postgres.client import SECRET_ARN_KEY, DatabaseClient

INVALID_PASSWORD = "28P01"  # SQLSTATE invalid_password

logger = logging.getLogger("config.postgres")


def is_password_refused(exc: BaseException) -> bool:
    """True when the server refused the password (libpq reports it without a SQLSTATE at connect)."""
    return getattr(exc, "sqlstate", None) == INVALID_PASSWORD or "password authentication failed" in str(exc)


def _refusal(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def get_new_connection(self, conn_params):
        arn = self.settings_dict.get(SECRET_ARN_KEY)
        if not arn:
            return super().get_new_connection(conn_params)
        password = self._secret_password(secret.current_password, arn)
        try:
            return super().get_new_connection({**conn_params, "password": password})
        except self.Database.OperationalError as exc:
            if not is_password_refused(exc):
                raise
            logger.info("the database refused the password of %s (rotated?); re-reading secret %s",
                        secret.VARIABLE, arn)
        password = self._secret_password(secret.refreshed_password, arn, password)
        try:
            return super().get_new_connection({**conn_params, "password": password})
        except self.Database.OperationalError as exc:
            if not is_password_refused(exc):
                raise
            message = (
                f"{secret.VARIABLE}: the database refused the password in secret {arn}, also after re-reading it "
                f"({_refusal(exc)}); check that it is this database's master secret and that DATABASE_URL's user "
                "is the secret's username"
            )
            logger.error(message)
            raise self.Database.OperationalError(message) from None

    def _secret_password(self, read, *args) -> str:
        """The password from ``read``; an unreadable secret is a database error, as Django reports one."""
        try:
            return read(*args)
        except secret.SecretUnavailable as exc:
            logger.error("%s", exc)
            raise self.Database.OperationalError(str(exc)) from None
