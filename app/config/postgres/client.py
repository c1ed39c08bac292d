"""``dbshell`` (psql) with the same password as the app's connections."""

from __future__ import annotations

from django.db.backends.postgresql import client

from config.postgres import password as secret

SECRET_ARN_KEY = "PASSWORD_SECRET_ARN"  # the settings_dict key config.settings fills from DATABASE_SECRET_ARN


class DatabaseClient(client.DatabaseClient):
    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict, parameters):
        # `keel run -- python manage.py dbshell` on AWS: psql gets the secret's current password
        # (in PGPASSWORD, as Django passes any password), not a stale one from the URL.
        arn = settings_dict.get(SECRET_ARN_KEY)
        if arn:
            settings_dict = {**settings_dict, "PASSWORD": secret.current_password(arn)}
        return super().settings_to_cmd_args_env(settings_dict, parameters)
