"""Case system adapters: over HTTP, by secure email beside the duty inbox, and in memory (the
fake every test and demo uses)."""
