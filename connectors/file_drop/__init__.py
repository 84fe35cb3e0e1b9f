"""File drop: a watched folder of police notification batches (JSON lines or CSV)."""
