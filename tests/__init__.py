"""dvtrigger tests."""
