"""The Django project package. Deliberately empty: the Pulumi program imports config.contract without Django."""
