"""Settings of a stand-in image for the rollback tests: the app as built at another point of its history.

``KEEL_TEST_IMAGE`` names a history in ``tests/app/migration_sets`` that replaces the ``documents``
app's migrations, as an older or newer image of the app would carry them. Test-only: production
runs ``config.settings`` alone.
"""

import os

from config.settings import *  # noqa: F403

MIGRATION_MODULES = {"documents": f"tests.app.migration_sets.{os.environ['KEEL_TEST_IMAGE']}"}
