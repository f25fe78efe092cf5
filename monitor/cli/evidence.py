"""`evidence verify|export`: the school's evidence chain, and a folder a head can hand over."""

from __future__ import annotations

import click


@click.group("evidence")
def evidence_group() -> None:
    """the school's evidence chain, and a folder a head can hand over."""
