"""`privacy find|export|erase|describe`: people's rights over what is held about them, and
the DPIA text."""

from __future__ import annotations

import click


@click.group("privacy")
def privacy_group() -> None:
    """people's rights over what is held about them, and the DPIA text."""
