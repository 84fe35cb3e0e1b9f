"""Contract test suites run against a port's fake and against its real adapter."""
