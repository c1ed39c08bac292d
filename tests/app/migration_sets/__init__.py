"""Migration histories for the migration-safety tests (MIGRATION_MODULES targets)."""
