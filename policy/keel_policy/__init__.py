"""The Keel policy rules: importable by the policy pack (policy/__main__.py), keel check and tests."""
