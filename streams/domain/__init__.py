"""The pure core: the Baby Peter rule, matching, the register, tasks, late knowledge, the ports.

Nothing here talks to Kafka, HTTP, a database, the clock or the file system: time is a value.
"""
