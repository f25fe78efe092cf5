"""Secrets are named in the config by reference, never written into it.

A reference is `env:NAME` (an environment variable) or `file:/path` (a file, e.g. a Docker or
systemd credential; surrounding whitespace is stripped). The resolved value is wrapped in `Secret`,
whose repr and str never show it, so it cannot end up in a log line by accident.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

PREFIXES = ("env:", "file:")


class SecretError(ValueError):
    """A reference that cannot be resolved; the message names it but never a value."""


def is_reference(text: str) -> bool:
    return text.startswith(PREFIXES)


def resolve(reference: str, *, base_dir: Path | None = None) -> str:
    """The value behind `env:NAME` or `file:/path`; anything else is returned unchanged."""
    if reference.startswith("env:"):
        name = reference[4:]
        value = os.environ.get(name)
        if not name or value is None or value == "":
            raise SecretError(f"environment variable {name or '(empty name)'} is not set")
        return value
    if reference.startswith("file:"):
        path = Path(reference[5:]).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise SecretError(f"secret file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise SecretError(f"secret file {path} cannot be read ({reason})") from None
        if not value:
            raise SecretError(f"secret file {path} is empty")
        return value
    return reference


class Secret:
    """A resolved secret that knows its reference and hides its value."""

    __slots__ = ("reference", "_value")

    def __init__(self, reference: str, value: str) -> None:
        self.reference = reference
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.reference == self.reference


def mask_url(url: str) -> str:
    """An Apprise URL safe to print: scheme and host kept, everything else masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    if not parts.scheme:
        return "****"
    host = parts.hostname or ""
    if parts.scheme in ("console", "stdout"):
        return f"{parts.scheme}://"
    return f"{parts.scheme}://{'****@' if parts.username or parts.password else ''}{host}/****"


def has_inline_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False
