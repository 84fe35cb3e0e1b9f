"""The audit log: hash-chained records of every decision, action, view and sign-in."""
