"""Benchmarks: throughput and latency of the worker against the limits of its clients."""
