"""`hallmonitor followers`: sync the followers of a school's account, and list them."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from monitor.cli.common import BadInput, Failure, config_options, local_time, open_db, table
from monitor.config import Config


@click.group("followers")
def followers_group() -> None:
    """Who follows the schools' accounts (X; see docs/followers.md)."""


def _sources(config: Config, session, account: str) -> list:
    """The enabled `followers` sources of an account id, or a one-line refusal saying why
    there are none."""
    from sqlalchemy import select

    from connectors import connector_class
    from monitor import followers, models

    rows = list(session.scalars(
        select(models.Source).where(models.Source.account == account,
                                    models.Source.kind == followers.KIND,
                                    models.Source.enabled.is_(True))
        .order_by(models.Source.id)))
    if rows:
        return rows
    configured = [(school, a) for school in config.schools for a in school.accounts
                  if a.account == account]
    if not configured:
        raise BadInput(f"no account {account} in the config (use the account id, as in "
                       "'hallmonitor sources')")
    for _, found in configured:
        refusal = connector_class(found.platform).followers_refusal
        if refusal:
            raise Failure(refusal)
    raise BadInput(f"account {account} has no followers source: add \"followers\" to its "
                   "kinds in the config")


@followers_group.command("sync")
@config_options
@click.option("--account", required=True, metavar="ID", help="The account's id, as configured.")
@click.option("--full", is_flag=True, help="Read every follower (finds unfollows); paid.")
@click.option("--yes", is_flag=True, help="Approve the full sync's estimated cost.")
def sync(config: Config, account: str, full: bool, yes: bool) -> None:
    """Sync an account's followers now: new ones since the last sync, or all with --full."""
    from monitor import sources
    from monitor.classify import ClassifierCache
    from monitor.pipeline import Pipeline

    sessions = open_db(config)
    with sessions.begin() as session:
        sources.sync(session, config)
        rows = _sources(config, session, account)
    pipeline = Pipeline(config, sessions, ClassifierCache(config), "followers-command")
    failed = False
    for source in rows:
        request = _approve(config, sessions, pipeline, source, full, yes)
        result = pipeline.poll(source.id, due_only=False, follower_request=request)
        failed |= _report(source, result)
    if failed:
        raise SystemExit(1)


def _approve(config: Config, sessions, pipeline, source, full: bool, yes: bool):
    """Print what a full sync would read and cost, and approve it (--yes, or within the
    allowance) or refuse; the request to poll with."""
    from connectors import ConnectorError
    from monitor import followers, models, sources
    from monitor.pipeline import build_connector, spec_of

    progress = source.progress or {}
    interrupted_full = progress.get("mode") == "full" and bool(progress.get("token"))
    if not full and (source.cursor is not None or interrupted_full):
        # A daily sync, or the rest of a full sync approved when it began.
        return followers.SyncRequest()
    try:
        settings = followers.settings_of(source)
        connector = build_connector(config, source)
        if connector.followers_refusal:
            raise Failure(connector.followers_refusal)
        estimate = followers.estimate_full_sync(connector, spec_of(source))
    except ConnectorError as exc:
        raise Failure(f"{source.key}: {exc}") from None
    click.echo(f"{source.key}: {estimate.text()}.")
    reason = followers.refusal(estimate, settings, source.account)
    if reason and not yes:
        raise Failure(reason)
    with sessions.begin() as session:
        row = session.get(models.Source, source.id)
        # Paused because a full sync was waiting for approval: this is the approval. A full
        # sync is outside the monthly budget, so a source paused for that runs it too (and
        # its daily syncs pause again, untold, until the month is over).
        if (row.paused_reason or "").startswith((followers.FullSyncRefused.__name__,
                                                 followers.BUDGET_PAUSE)):
            sources.resume(row, pipeline.now())
    return followers.SyncRequest(full=True, approved=True)


def _report(source, result) -> bool:
    """One line on what the sync did; True when it did not complete."""
    outcome = result.followers
    if not result.claimed:
        click.echo(f"{source.key}: not synced, {result.not_claimed}", err=True)
        return True
    if result.error:
        click.echo(f"{source.key}: {result.error}", err=True)
        return True
    pages = f"{outcome.pages} page{'' if outcome.pages == 1 else 's'}"
    click.echo(f"{source.key}: {outcome.mode} sync, {pages}, {outcome.reads} "
               f"paid reads; {len(outcome.new)} new, {len(outcome.refollowed)} re-followed, "
               f"{len(outcome.unfollowed)} unfollowed, {len(outcome.renamed)} renamed")
    if outcome.paused:
        click.echo(f"{source.key}: paused: {outcome.paused}", err=True)
        return True
    return not result.completed


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise BadInput(f"--new-since {value!r} is not a date such as 2026-12-01") from None
    return day.replace(tzinfo=UTC)


@followers_group.command("list")
@config_options
@click.option("--account", required=True, metavar="ID", help="The account's id, as configured.")
@click.option("--new-since", metavar="DATE", help="Only those who followed on or after DATE "
              "(YYYY-MM-DD, UTC).")
def list_command(config: Config, account: str, new_since: str | None) -> None:
    """List an account's followers, newest first."""
    from monitor import followers

    since = _date(new_since)
    sessions = open_db(config)
    with sessions() as session:
        rows = _sources(config, session, account)
        for source in rows:
            tz = config.school_timezone(config.school(source.school_id))
            shown = followers.list_followers(session, source.id, new_since=since)
            click.echo(f"{source.key}: {len(shown)} "
                       f"{'new since ' + new_since if since else 'following'}")
            if shown:
                click.echo(table(["handle", "name", "id", "followed"], [
                    (f"@{f.handle}", f.name, f.account_id,
                     local_time(f.followed_at, tz) if f.followed_at else "before monitoring")
                    for f in shown]))


@followers_group.command("report")
@config_options
@click.option("--account", required=True, metavar="ID",
              help="The account's id (or @handle), as configured.")
@click.option("--since", metavar="DATE", help="From the start of DATE (YYYY-MM-DD, the "
              "school's time) until now; the last 7 days by default.")
def report_command(config: Config, account: str, since: str | None) -> None:
    """IT's follower report: who followed, left, came back or changed handle, those of concern
    and those on the watchlist first."""
    from datetime import timedelta

    from monitor import follower_report
    from monitor.pipeline import now_utc

    now = now_utc()
    sessions = open_db(config)
    with sessions() as session:
        try:
            source = follower_report.find_source(session, account)
            school = config.find_school(source.school_id)
            tz = config.school_timezone(school) if school else config.daemon.timezone
            start = _local_day(since, tz) if since else now - timedelta(days=7)
            report = follower_report.follower_report(session, config, source.id, start, now)
        except follower_report.ReportError as exc:
            raise BadInput(str(exc)) from None
        click.echo(follower_report.render_text(report))


def _local_day(value: str, timezone: str) -> datetime:
    """The start of a day in the school's time zone, in UTC."""
    from zoneinfo import ZoneInfo

    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise BadInput(f"--since {value!r} is not a date such as 2026-12-01") from None
    return day.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


@followers_group.command("staff-names")
@config_options
@click.option("--school", "school_id", required=True, metavar="ID", help="The school's id.")
@click.argument("file", type=click.Path(dir_okay=False))
def staff_names_command(config: Config, school_id: str, file: str) -> None:
    """Load a school's staff-name list (CSV) now, stored only as keyed hashes; prints how many
    names, never a name."""
    from monitor import staff_names
    from monitor.pipeline import now_utc

    if config.find_school(school_id) is None:
        raise BadInput(f"unknown school {school_id!r} (the config has "
                       f"{', '.join(s.id for s in config.schools)})")
    try:
        hasher = staff_names.hasher_for(config)
        if hasher is None:
            raise Failure("no [daemon] name_key in the config: staff names are stored only "
                          "hashed with it (see config.example.toml)")
        sessions = open_db(config)
        with sessions.begin() as session:
            listed = staff_names.load_staff_names(session, school_id, file, hasher, now_utc())
    except staff_names.NameListError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"{config.school_name(school_id)}: {listed.people} staff "
               f"name{'' if listed.people == 1 else 's'} loaded, stored hashed")
