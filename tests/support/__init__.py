"""Fixtures and sample data shared by the unit and integration tests."""
