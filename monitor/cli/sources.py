"""`sources`: each source's health, items, next poll and read costs; paused and failing sources
with the reason; IT notices nobody received; `--check` probes each credential once."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.common import Failure, config_options, local_time, open_db, redact, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor import models
    from monitor.config import Config
    from monitor.costs import CostEstimate


@click.command("sources")
@config_options
@click.option("--check", is_flag=True, help="Also probe each account's credentials now (once per "
              "account and credentials); exits 1 if any check fails.")
@click.option("--resume", type=int, metavar="ID", help="Resume a paused source.")
def sources_command(config: Config, check: bool, resume: int | None) -> None:
    """Show every source: state, last success, items, next poll, read costs, and why a source
    is paused or failing."""
    from sqlalchemy import func, select

    from monitor import costs, models
    from monitor import sources as sources_module

    sessions = open_db(config)
    with sessions.begin() as session:
        sources_module.sync(session, config)
        if resume is not None:
            _resume(session, resume)
    with sessions() as session:
        rows = list(session.scalars(select(models.Source).order_by(models.Source.id)))
        counts = dict(session.execute(
            select(models.Item.source_id, func.count()).group_by(models.Item.source_id)).all())
        estimates = costs.estimate(session, {s.id: s.platform for s in rows},
                                   costs.connector_prices)
        notices = _undelivered_it_notices(session)
    now = datetime.now(UTC)
    tz = config.daemon.timezone
    click.echo(table(["id", "source", "state", "last success", "items", "next poll",
                      "est. $/month", "backfill $", "last error"],
                     [_row(s, counts.get(s.id, 0), estimates[s.id], tz) for s in rows]))
    _explain_trouble(rows, now, tz)
    _explain_costs(estimates.values())
    _show_notices(notices, tz)
    if check and not _check_all(config, rows):
        raise SystemExit(1)


def _resume(session: Session, source_id: int) -> None:
    from monitor import models
    from monitor import sources as sources_module

    source = session.get(models.Source, source_id)
    if source is None:
        raise Failure(f"no source with id {source_id}")
    sources_module.resume(source, datetime.now(UTC))
    click.echo(f"source {source_id} resumed")


def _state(source: models.Source) -> str:
    from monitor.sources import state_of

    # Shouted on the command line, where a paused or failing source must stand out in a table.
    state = state_of(source)
    return state if state in ("ok", "disabled") else state.upper()


def _row(source: models.Source, items: int, cost: CostEstimate, tz: str) -> list[object]:
    polled = source.enabled and not source.paused_reason
    return [source.id, source.key, _state(source), local_time(source.last_success_at, tz), items,
            local_time(source.next_poll_at, tz) if polled else "-",
            cost.monthly_text(), cost.backfill_text(),
            " ".join((source.paused_reason or source.last_error or "").split())[:60]]


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def _explain_trouble(rows: Sequence[models.Source], now: datetime, tz: str) -> None:
    """Paused and failing sources in full: the table cuts the reason short, and the reason says
    what to do."""
    paused = [s for s in rows if s.enabled and s.paused_reason]
    failing = [s for s in rows if _state(s) == "FAILING"]
    if paused:
        click.echo("\nPaused (not polled until the credentials are fixed, then "
                   "'hallmonitor sources --resume ID'):")
        for s in paused:
            when = f" since {local_time(s.paused_at, tz)}" if s.paused_at else ""
            click.echo(f"  {s.id} {s.key}: paused{when}: {' '.join(s.paused_reason.split())}")
    if failing:
        click.echo("\nFailing (retried with backoff):")
        for s in failing:
            if s.failing_since:
                since = (f"failing since {local_time(s.failing_since, tz)} "
                         f"({_duration(now - s.failing_since)})")
            else:
                since = f"{s.failure_count} failed polls in a row"
            error = " ".join((s.last_error or "no error recorded").split())
            click.echo(f"  {s.id} {s.key}: {since}; last error: {error}")


def _explain_costs(estimates: Iterable[CostEstimate]) -> None:
    from monitor.costs import MIN_OBSERVED, MONTH_DAYS

    paid = [e for e in estimates if not e.free]
    if not paid:
        return
    hours = int(MIN_OBSERVED.total_seconds() // 3600)
    click.echo(f"\nCosts (US$): 'est. $/month' is the last {MONTH_DAYS} days of steady polling "
               f"scaled to {MONTH_DAYS} days, each post and user priced once per UTC day; it "
               f"needs {hours}h of polling after the first poll. 'backfill $' is what the first "
               "poll's backlog cost, once.")


def _undelivered_it_notices(session: Session) -> list[Any]:
    """IT notices from the last week that no channel could deliver (`alerts.
    undelivered_it_notices`); none where this version of the delivery side lacks it."""
    from monitor import alerts

    finder = getattr(alerts, "undelivered_it_notices", None)
    return list(finder(session)) if finder is not None else []


def _show_notices(notices: Sequence[Any], tz: str) -> None:
    """Nobody got these: the one place IT can still learn that monitoring needs them."""
    if not notices:
        return
    click.echo(f"\nIT notices that could not be delivered ({len(notices)}): fix the IT "
               "recipients' channels, then 'hallmonitor deliver --retry-dead' sends them:")
    for notice in notices:
        title = " ".join(str(notice.title).split())
        click.echo(f"  {local_time(notice.created_at, tz)} {notice.school_id}: {title}")
        why = " ".join(str(getattr(notice, "why", "") or "").split())
        if why:
            click.echo(redact(f"      {why}"))


# --- --check ------------------------------------------------------------------------------------

@dataclass
class _Probe:
    """One check: a platform account with one set of credentials, and the sources it covers."""

    platform: str
    account: str
    sources: list[models.Source] = field(default_factory=list)


def _probes(config: Config, rows: Sequence[models.Source]) -> list[_Probe]:
    """The distinct (platform, account, credentials, settings) among the enabled sources: three
    kinds polled from one X account are one check, not three."""
    from monitor.sources import credential_fingerprint

    probes: dict[tuple[str, ...], _Probe] = {}
    for source in rows:
        if not source.enabled:
            continue
        school = config.find_school(source.school_id)
        account = next((a for a in school.accounts if a.platform == source.platform
                        and a.account == source.account), None) if school else None
        if account is None:  # build_connector says so; it is its own check
            key: tuple[str, ...] = ("missing", str(source.id))
        else:
            key = (source.platform, source.account,
                   credential_fingerprint(config, account) or "",
                   json.dumps(account.settings, sort_keys=True, default=str))
        probes.setdefault(key, _Probe(source.platform, source.account)).sources.append(source)
    return list(probes.values())


def _run_probe(config: Config, probe: _Probe) -> tuple[bool, str, tuple[str, ...]]:
    from monitor.pipeline import build_connector

    try:
        result = build_connector(config, probe.sources[0]).check()
    except Exception as exc:  # a probe must report, never crash the listing
        text = " ".join(str(exc).split())
        return False, f"the check itself failed: {type(exc).__name__}: {text}", ()
    return result.ok, result.message, tuple(result.details)


def _check_all(config: Config, rows: Sequence[models.Source]) -> bool:
    """Probe each distinct account and credentials once; True when every check passed. Shown
    as the connector words it: it knows a refused token from a network that is down."""
    probes = _probes(config, rows)
    failed = 0
    click.echo("")
    for probe in probes:
        ok, message, details = _run_probe(config, probe)
        failed += not ok
        verdict = "OK" if ok else "PROBLEM"
        if len(probe.sources) == 1:
            click.echo(redact(f"[{verdict}] {probe.sources[0].key}: {message}"))
        else:
            click.echo(redact(f"[{verdict}] {probe.platform} account {probe.account}: {message}"))
            click.echo("    covers sources " + ", ".join(f"{s.id} {s.key}" for s in probe.sources))
        for line in details:
            click.echo(redact(f"    {line}"))
    if failed:
        click.echo(f"hallmonitor: {failed} of {len(probes)} checks failed", err=True)
    return not failed
