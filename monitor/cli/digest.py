"""`digest preview` and `digest send`: the weekly digests on demand, exactly as the daemon sends
them on its schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.common import BadInput, Failure, config_options, open_db

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.digest.send import Plan
    from monitor.digest.weeks import SchoolWeek

KIND_CHOICE = click.Choice(["head", "dsl", "trust"])


@click.group("digest")
def digest_group() -> None:
    """The head's weekly digest, the DSL's weekly summary and the trust's roll-up."""


def _digest_options(command):
    command = click.option("--kind", type=KIND_CHOICE, default="head", show_default=True,
                           help="The head's digest, the DSL's summary or the trust's roll-up.")(
        command)
    command = click.option("--week", metavar="YYYY-Www",
                           help="The ISO week, e.g. 2026-W47 (default: last week).")(command)
    command = click.option("--school", "school_id", metavar="ID",
                           help="The school (not for --kind trust; default: the only one).")(
        command)
    return config_options(command)


@digest_group.command("preview")
@_digest_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the HTML email to FILE.html, its images inlined.")
@click.option("--text", "as_text", is_flag=True, help="Print the plain-text part.")
def preview(config: Config, school_id: str | None, week: str | None, kind: str,
            out: Path | None, as_text: bool) -> None:
    """Write exactly what would be sent for a week, without sending it."""
    from monitor.digest import build, send

    if out is None and not as_text:
        raise BadInput("say where the preview goes: --out FILE.html, or --text to print the "
                       "plain-text part")
    school_id, the_week = _target(config, kind, school_id, week)
    sessions = open_db(config)
    now = datetime.now(UTC)
    with sessions() as session:
        plan = send.plan(session, config, kind, school_id, the_week, now=now)
        try:
            rendered = build.build_digest(session, config, kind, school_id, the_week, now=now,
                                          short=plan.short)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    _tell_plan(plan)
    if out is not None:
        try:
            out.write_text(rendered.preview_html(), encoding="utf-8")
        except OSError as exc:
            raise Failure(f"cannot write {out}: {exc.strerror or exc}") from None
        click.echo(f"Wrote {out}: {rendered.title}", err=True)
    if as_text:
        click.echo(rendered.text)


@digest_group.command("send")
@_digest_options
@click.option("--again", is_flag=True, help="Send it even if it was sent for that week.")
def send_command(config: Config, school_id: str | None, week: str | None, kind: str,
                 again: bool) -> None:
    """Send a week's digest now (once per week: --again sends another)."""
    from sqlalchemy import select

    from monitor import models, notify
    from monitor.daemon import worker_id
    from monitor.digest import send

    school_id, the_week = _target(config, kind, school_id, week)
    sessions = open_db(config)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        plan = send.plan(session, config, kind, school_id, the_week, now=now)
        try:
            queued = send.enqueue_digest(session, config, kind, school_id, the_week, now=now,
                                         again=again, short=plan.short)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        alert_id = queued.alert.id if queued.alert is not None else None
    if not queued:
        if queued.status == "exists":
            raise Failure(f"{queued.who} was sent already: 'hallmonitor digest send --again' "
                          "sends it once more")
        raise Failure(f"{queued.who} was not sent: {queued.reason}")
    _tell_plan(plan)
    notify.deliver_due(config, sessions, worker_id())
    with sessions() as session:
        rows = list(session.scalars(select(models.Delivery)
                                    .where(models.Delivery.alert_id == alert_id)))
        outcomes = [(notify.shown(row.destination), row.status, row.last_error) for row in rows]
    for destination, status, error in outcomes:
        state = "sent" if status == "sent" else f"{status}: {error}" if error else status
        click.echo(f"{queued.who}: {destination}: {state}")
    unsent = sum(1 for _, status, _ in outcomes if status != "sent")
    if unsent:
        raise Failure(f"{unsent} of {len(outcomes)} deliveries not sent yet: the daemon (or "
                      "'hallmonitor deliver') retries them")


def _target(config: Config, kind: str, school_id: str | None,
            week: str | None) -> tuple[str | None, SchoolWeek]:
    """The school (None for the trust) and the week, in its own timezone; one-line refusals."""
    from monitor.digest import send, weeks

    if kind == "trust":
        if school_id is not None:
            raise BadInput("the trust's roll-up covers every school: leave out --school")
        if config.trust is None:
            raise BadInput("the config has no [trust] table, so there is no trust roll-up")
    elif school_id is None:
        if len(config.schools) > 1:
            known = ", ".join(school.id for school in config.schools)
            raise BadInput(f"say which school with --school (one of: {known})")
        school_id = config.schools[0].id
    elif config.find_school(school_id) is None:
        known = ", ".join(school.id for school in config.schools)
        raise BadInput(f"no school '{school_id}' in the config (it has: {known})")
    timezone = send.timezone_of(config, kind, school_id)
    if week is None:
        return school_id, weeks.previous_week(datetime.now(UTC), timezone)
    try:
        return school_id, weeks.week_of(week, timezone)
    except ValueError as exc:
        raise BadInput(f"--week: {exc}") from None


def _tell_plan(plan: Plan) -> None:
    if plan.note:
        click.echo(f"note: {plan.note}", err=True)
