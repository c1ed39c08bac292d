#!/usr/bin/env python
"""Django's command-line utility (the release and one-off admin processes)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.env import load_or_exit

    # Validate first: a bad environment exits 78 with one line per problem, no traceback.
    load_or_exit()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
