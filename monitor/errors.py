"""Errors the command line reports as one clear line, kept apart so that importing them is cheap."""


class ConfigError(Exception):
    """The configuration cannot be used. `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class DatabaseError(Exception):
    """The database cannot be opened or upgraded; the message says why, without credentials."""
