"""The command line: `dvtrigger ...`, the supervisor behind `make run`, and offline replay."""
