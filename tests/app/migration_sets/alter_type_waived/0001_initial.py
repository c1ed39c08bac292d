from tests.app.migration_sets.initial import Migration  # noqa: F401  (the shipped 0001)
