"""Matching people and dwellings as real records write them: normalising, comparing, blocking."""
