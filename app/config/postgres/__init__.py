"""Django's PostgreSQL backend, plus a password read from Secrets Manager (``DATABASE_SECRET_ARN``).

``ENGINE = "config.postgres"`` (set by ``config.settings``). Without a secret ARN it behaves
exactly like ``django.db.backends.postgresql``. With one, every new connection takes the
password from the secret (cached, see ``password.py``) and re-reads it once when the server
refuses it, so RDS's managed rotation never needs the tasks to be replaced.
"""
