"""Keel's infrastructure: the Pulumi components, the release gate and the keel CLI."""
