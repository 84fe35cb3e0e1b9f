"""Case system adapters: over HTTP, and in memory (the fake every test and demo uses)."""
