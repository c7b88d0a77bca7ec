"""End-to-end tests: the whole system started with `meritloop up`."""
