"""`retention run|log`: the retention policy, applied now, and what it removed."""

from __future__ import annotations

import click


@click.group("retention")
def retention_group() -> None:
    """the retention policy, applied now, and what it removed."""
