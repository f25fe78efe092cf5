"""`retention run|log`: the retention policy, applied now, and what it removed.

See monitor/retention.py for the rules and docs/retention.md for the periods and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import actor_option, config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor.config import Config


@click.group("retention")
def retention_group() -> None:
    """The retention policy: apply it now, and what it removed."""


@retention_group.command("run")
@config_options
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@actor_option
def retention_run(config: Config, dry_run: bool, actor: str) -> None:
    """Apply the retention policy now (the daemon does it once a day) and say what it removed,
    per kind. Incidents under evidence hold are kept."""
    from monitor import retention

    result = retention.apply(config, open_db(config), dry_run=dry_run, by=actor)
    if dry_run:
        click.echo("dry run, nothing changed; the retention policy would remove:")
    else:
        click.echo("removed under the retention policy:")
    click.echo(table(("what", "count"),
                     [(retention.LABELS[kind], getattr(result, kind))
                      for kind in retention.RetentionResult.KINDS]))
    if result.held_incidents:
        n = result.held_incidents
        click.echo(f"kept: {n} incident{'s' if n != 1 else ''} under evidence hold "
                   "('hallmonitor incidents release ID' lets retention apply to it)")


@retention_group.command("log")
@config_options
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many of the latest removals to list.")
def retention_log(config: Config, limit: int) -> None:
    """List past data removals (retention runs and erasures): when, which, by whom and how
    many records of each kind; never what was removed or whose it was."""
    from monitor import retention

    with open_db(config)() as session:
        rows = retention.log(session, limit)
    if not rows:
        click.echo("no data has been removed yet")
        return
    timezone = config.daemon.timezone
    click.echo(table(("started", "finished", "kind", "by", "removed"),
                     [(local_time(row.started_at, timezone), local_time(row.finished_at, timezone),
                       row.kind, row.by or "-", _counts(row.counts)) for row in rows]))


def _counts(counts: dict | None) -> str:
    """The non-zero counts, as kind=n; "nothing" when there are none."""
    shown = [f"{kind}={n}" for kind, n in (counts or {}).items()
             if isinstance(n, int) and n and kind != "held_incidents"]
    return ", ".join(shown) or "nothing"
