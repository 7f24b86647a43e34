"""Drafting many scenarios from a file: the runner, its journals, the cache, cost estimates and the Batch API."""
