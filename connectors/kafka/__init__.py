"""Kafka tools: the embedded broker, topics, the publisher, replay of what was set aside."""
