"""Configuration: the settings object read from the environment once, topic roles, header names."""
