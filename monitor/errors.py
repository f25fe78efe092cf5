"""Errors the command line reports as one clear line, kept apart so that importing them is cheap."""


class ConfigError(Exception):
    """The configuration cannot be used. `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class DatabaseError(Exception):
    """The database cannot be opened or upgraded; the message says why, without credentials."""


class DatabaseUnreachable(DatabaseError):
    """No connection to the database could be made: one line naming where (never the password)
    and why, without the driver's multi-line text."""
