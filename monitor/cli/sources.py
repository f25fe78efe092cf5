"""`sources`: each source's health, items, next poll and estimated cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor import models
    from monitor.config import Config


@click.command("sources")
@config_options
@click.option("--check", is_flag=True, help="Also probe each source's credentials now.")
@click.option("--resume", type=int, metavar="ID", help="Resume a paused source.")
def sources_command(config: Config, check: bool, resume: int | None) -> None:
    """Show every source: last success, last error, items, next poll, estimated cost."""
    from sqlalchemy import func, select

    from monitor import models
    from monitor import sources as sources_module
    from monitor.pipeline import build_connector

    sessions = open_db(config)
    with sessions.begin() as session:
        sources_module.sync(session, config)
        if resume is not None:
            source = session.get(models.Source, resume)
            if source is None:
                raise Failure(f"no source with id {resume}")
            source.paused_reason = None
            source.failure_count = 0
            source.next_poll_at = datetime.now(UTC)
            click.echo(f"source {resume} resumed")
    with sessions() as session:
        rows = list(session.scalars(select(models.Source).order_by(models.Source.id)))
        counts = dict(session.execute(
            select(models.Item.source_id, func.count()).group_by(models.Item.source_id)).all())
        month_ago = datetime.now(UTC) - timedelta(days=30)
        reads = dict(session.execute(
            select(models.PollRun.source_id, func.sum(models.PollRun.reads))
            .where(models.PollRun.started_at >= month_ago)
            .group_by(models.PollRun.source_id)).all())
        first_run = dict(session.execute(
            select(models.PollRun.source_id, func.min(models.PollRun.started_at))
            .group_by(models.PollRun.source_id)).all())
    tz = config.daemon.timezone
    table_rows = []
    for s in rows:
        state = ("disabled" if not s.enabled else "PAUSED" if s.paused_reason else
                 "failing" if s.failure_count else "ok")
        table_rows.append([
            s.id, s.key, state, local_time(s.last_success_at, tz), counts.get(s.id, 0),
            local_time(s.next_poll_at, tz) if s.enabled and not s.paused_reason else "-",
            _monthly_cost(s, reads.get(s.id, 0) or 0, first_run.get(s.id)),
            (s.paused_reason or s.last_error or "")[:60],
        ])
    click.echo(table(["id", "source", "state", "last success", "items", "next poll",
                      "est. $/month", "last error"], table_rows))
    if check:
        click.echo("")
        for s in rows:
            if not s.enabled:
                continue
            try:
                result = build_connector(config, s).check()
                verdict, message, details = ("OK" if result.ok else "PROBLEM"), result.message, \
                    result.details
            except Exception as exc:  # a probe must report, never crash the listing
                verdict, message, details = "PROBLEM", f"{type(exc).__name__}: {exc}", ()
            click.echo(f"[{verdict}] {s.key}: {message}")
            for line in details:
                click.echo(f"    {line}")


def _monthly_cost(source: models.Source, reads: int, since: datetime | None) -> str:
    from connectors import connector_class

    try:
        price = connector_class(source.platform).cost_per_read
    except Exception:
        return "-"
    if not price:
        return "0"
    if not since or not reads:
        return "0.00"
    days = max((datetime.now(UTC) - max(since, datetime.now(UTC) - timedelta(days=30)))
               .total_seconds() / 86400, 1 / 24)
    return f"{reads * price * 30 / days:.2f}"
