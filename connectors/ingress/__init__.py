"""HTTPS ingress: forces that cannot run a Kafka producer POST their notifications here."""
