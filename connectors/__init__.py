"""Everything that talks to the outside: case systems, feeds, the duty inbox, the CLI."""
