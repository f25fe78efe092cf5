"""`db upgrade`: create or upgrade the database schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import config_options, open_db, shown_db

if TYPE_CHECKING:
    from monitor.config import Config


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@config_options
def db_upgrade(config: Config) -> None:
    """Create or upgrade the database schema to this version."""
    open_db(config, upgrade=True)
    click.echo(f"database {shown_db(config)} is up to date")
