"""The sample feature: users upload documents, a Celery task fingerprints them, beat purges old ones."""
