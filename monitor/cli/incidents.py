"""`incidents list|show|ack|resolve|reopen|note|hold|release`: flagged items that belong together,
who dealt with them, and evidence hold. The changes are `monitor.incidents`' functions, the same
ones the console calls."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.common import (
    BadInput,
    Failure,
    actor_option,
    config_options,
    local_time,
    open_db,
    table,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor import models
    from monitor.config import Config


SEVERITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
# The keys of monitor.incidents' HARMS and OUTCOMES, written out so that `--help` can list them
# without importing the database machinery at start-up (a test keeps the two the same).
HARM_CHOICES = ("threat", "safeguarding", "personal_data", "hostility")
OUTCOME_CHOICES = ("hidden", "deleted", "blocked", "reported_to_platform", "reported_to_police",
                   "referred_to_lado", "no_action")
STATUS_CHOICES = ("open", "acknowledged", "resolved")
# Control characters (terminal escapes among them) in text that came from a platform.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class OneLineChoice(click.Choice):
    """A choice whose refusal is one line naming the valid values, not a usage block."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            what = param.human_readable_name if param is not None else "value"
            raise BadInput(f"unknown {what.lower()} {value!r}: choose one of "
                           f"{', '.join(map(str, self.choices))}") from None


class IncidentId(click.ParamType):
    name = "ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise BadInput(f"an incident id is a whole number such as 12, not {value!r} "
                           "(see 'hallmonitor incidents list')")
        return number


incident_id_argument = click.argument("incident_id", type=IncidentId())


@click.group()
def incidents() -> None:
    """Incidents: flagged items that belong together, and who has dealt with them."""


@incidents.command("list")
@config_options
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--school", "school_id", metavar="ID", help="Only this school's incidents.")
@click.option("--harm", type=OneLineChoice(HARM_CHOICES), help="Only incidents of this harm.")
@click.option("--status", type=OneLineChoice(STATUS_CHOICES),
              help="Only incidents in this state (resolved ones are shown only when asked).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many incidents to show (at least 1), the most pressing first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def incidents_list(config: Config, show_all: bool, school_id: str | None, harm: str | None,
                   status: str | None, limit: int, fmt: str) -> None:
    """Open and acknowledged incidents, most serious and newest first."""
    from sqlalchemy import case, select

    from monitor import models
    if school_id is not None and config.find_school(school_id) is None:
        raise BadInput(f"no school {school_id!r} in the config (schools: "
                       f"{', '.join(s.id for s in config.schools)})")
    incident = models.Incident
    # Sorted before the limit is taken: --limit 5 shows the five most pressing, not the five
    # newest in order of pressure.
    query = select(incident).order_by(
        (incident.status == "resolved").asc(),
        case(SEVERITY_ORDER, value=incident.severity, else_=len(SEVERITY_ORDER)),
        incident.last_item_at.desc(), incident.id.desc()).limit(limit)
    if status is not None:
        query = query.where(incident.status == status)
    elif not show_all:
        query = query.where(incident.status != "resolved")
    if school_id is not None:
        query = query.where(incident.school_id == school_id)
    if harm is not None:
        query = query.where(incident.harm == harm)
    with open_db(config)() as session:
        rows = list(session.scalars(query))
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({
                "id": row.id, "school": row.school_id, "harm": row.harm, "status": row.status,
                "severity": row.severity, "categories": list(row.categories),
                "items": row.item_count, "opened_at": row.opened_at.isoformat(),
                "last_item_at": row.last_item_at.isoformat(),
                "campaign": row.key.startswith("campaign:"),
                "acknowledged_by": row.acknowledged_by, "outcome": row.outcome,
                "resolved_by": row.resolved_by,
                "held_at": row.held_at.isoformat() if row.held_at else None,
                "held_by": row.held_by, "hold_reason": row.hold_reason}))
        return
    tz = config.daemon.timezone
    click.echo(table(
        ["id", "school", "harm", "status", "severity", "items", "categories", "last item", "by",
         "hold"],
        [[r.id, r.school_id, _harm_shown(r), r.status, r.severity, r.item_count,
          ",".join(r.categories), local_time(r.last_item_at, tz),
          r.resolved_by or r.acknowledged_by or "-",
          f"held since {local_time(r.held_at, tz)} by {r.held_by}" if r.held_at else "-"]
         for r in rows]))


def _harm_shown(incident: models.Incident) -> str:
    return f"{incident.harm} (campaign)" if incident.key.startswith("campaign:") else incident.harm


@incidents.command("show")
@config_options
@incident_id_argument
def incidents_show(config: Config, incident_id: int) -> None:
    """Everything about one incident: its items with their reasons, what was done to them, and
    the trail of who acknowledged, resolved, reopened or noted what, and when."""
    from monitor import incidents as incidents_module

    with open_db(config)() as session:
        try:
            incident = incidents_module.get(session, incident_id)
        except incidents_module.IncidentError as exc:
            raise Failure(str(exc)) from None
        school = config.find_school(incident.school_id)
        tz = config.school_timezone(school) if school else config.daemon.timezone
        click.echo("\n".join(_describe(session, incident, school.name if school else None, tz)))


def _describe(session: Session, incident: models.Incident, school_name: str | None,
              tz: str) -> list[str]:
    from monitor import incidents as incidents_module

    harm = incidents_module.HARMS.get(incident.harm, incident.harm)
    if incident.key.startswith("campaign:"):
        harm += " - a campaign: one author on several threads"
    outcome = (incidents_module.OUTCOMES.get(incident.outcome, incident.outcome)
               if incident.outcome else "-")
    lines = [
        f"Incident {incident.id}",
        f"  School:        {school_name or '(not in the config)'} ({incident.school_id})",
        f"  Harm:          {harm}",
        f"  Severity:      {incident.severity}",
        f"  Status:        {incident.status}",
        f"  Categories:    {', '.join(incident.categories) or '-'}",
        f"  Opened:        {_when(incident.opened_at, tz)}",
        f"  Last item:     {_when(incident.last_item_at, tz)}",
        f"  Acknowledged:  {_by(incident.acknowledged_by, incident.acknowledged_at, tz)}",
        f"  Resolved:      {_by(incident.resolved_by, incident.resolved_at, tz)}",
        f"  Outcome:       {outcome}",
        f"  Evidence hold: {_hold(incident, tz)}",
    ]
    trail = incidents_module.trail(session, incident.id)
    found = incidents_module.items(session, incident.id)
    lines += ["", f"Items ({len(found)}):"]
    for item in found:
        lines += _item_lines(item, [a for a in trail if a.item_id == item.id], tz)
    lines += ["", "Trail:"]
    lines += [f"  {_action_line(action, tz)}" for action in trail] or ["  (nothing yet)"]
    return lines


def _item_lines(item: models.Item, actions: list[models.Action], tz: str) -> list[str]:
    from monitor import incidents as incidents_module
    from monitor import rules

    who = _clean(item.author_name or item.author_handle or "unknown author")
    if item.author_handle and item.author_handle != item.author_name:
        who += f" (@{_clean(item.author_handle)})"
    verdict = item.verdict
    categories = list(verdict.categories) if verdict else []
    scores = verdict.scores if verdict else {}
    lines = [
        f"  #{item.id}  {_when(item.created_at, tz)}  {who}  ({item.kind} on {item.platform})",
        *[f"      {_clean(line)}" for line in (item.text or "(no text)").splitlines()],
        f"    Link:        {item.permalink or f'(none: {item.platform} id {item.external_id})'}",
        "    Categories:  " + (", ".join(f"{c} ({float(scores.get(c, 0.0)):.2f})"
                                        for c in categories) or "-"),
    ]
    reasons = incidents_module.readable_reasons(verdict.reasons if verdict else None, scores)
    for category in categories:
        why = reasons.get(category) or rules.readable_reasons((), float(scores.get(category, 0)))
        lines.append(f"    Why {category.replace('_', ' ')}: {_clean('; '.join(why))}")
    lines.append("    Actions:     " + ("none" if not actions else ""))
    lines += [f"      {_action_line(action, tz)}" for action in actions]
    return lines


def _action_line(action: models.Action, tz: str) -> str:
    target = f" item #{action.item_id}" if action.item_id and not action.incident_id else ""
    outcome = "" if action.ok else " FAILED:"
    return (f"{local_time(action.created_at, tz)}  {action.action}{target} by {action.actor}:"
            f"{outcome} {_clean(action.result or '-')}")


def _when(value, tz: str) -> str:
    from zoneinfo import ZoneInfo

    if value is None:
        return "-"
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"


def _hold(incident: models.Incident, tz: str) -> str:
    """Whether retention and erasure must leave the incident alone, since when, by whom, why."""
    if incident.held_at is None:
        return "no"
    why = f": {_clean(incident.hold_reason)}" if incident.hold_reason else ""
    return f"held since {_by(incident.held_by, incident.held_at, tz)}{why}"


def _by(actor: str | None, at, tz: str) -> str:
    return "-" if at is None else f"{_when(at, tz)} by {actor or '?'}"


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


# --- changes --------------------------------------------------------------------------------------

def _change(config: Config, call: Callable[[Any, Any], str]) -> None:
    """Run one change (`call(incidents module, sessions)` returns what to say it did); a change
    that does not apply is one line and exit 1."""
    from monitor import incidents as incidents_module

    try:
        said = call(incidents_module, open_db(config))
    except incidents_module.IncidentError as exc:
        raise Failure(str(exc)) from None
    click.echo(said)


@incidents.command("ack")
@config_options
@incident_id_argument
@actor_option
def incidents_ack(config: Config, incident_id: int, actor: str) -> None:
    """Acknowledge an incident: you are dealing with it, and its reminders stop. Acknowledging
    again adds to the trail; the first acknowledgement stays on the incident."""
    def call(module, sessions) -> str:
        module.acknowledge(sessions, incident_id, actor)
        return f"incident {incident_id} acknowledged by {actor}"

    _change(config, call)


@incidents.command("resolve")
@config_options
@incident_id_argument
@click.option("--outcome", required=True, type=OneLineChoice(OUTCOME_CHOICES),
              help="How it was dealt with.")
@click.option("--note", default="", metavar="TEXT", help="A note for the trail.")
@actor_option
def incidents_resolve(config: Config, incident_id: int, outcome: str, note: str,
                      actor: str) -> None:
    """Mark an incident as dealt with, and how."""
    def call(module, sessions) -> str:
        module.resolve(sessions, incident_id, actor, outcome, note)
        return f"incident {incident_id} resolved by {actor}: {module.OUTCOMES[outcome]}"

    _change(config, call)


@incidents.command("reopen")
@config_options
@incident_id_argument
@click.option("--note", default="", metavar="TEXT", help="Why, for the trail.")
@actor_option
def incidents_reopen(config: Config, incident_id: int, note: str, actor: str) -> None:
    """Open a resolved incident again: it needs dealing with after all."""
    def call(module, sessions) -> str:
        module.reopen(sessions, incident_id, actor, note)
        return f"incident {incident_id} reopened by {actor}"

    _change(config, call)


@incidents.command("note")
@config_options
@incident_id_argument
@click.argument("text")
@actor_option
def incidents_note(config: Config, incident_id: int, text: str, actor: str) -> None:
    """Add a note to an incident's trail (in the console, only the DSL and head read notes)."""
    def call(module, sessions) -> str:
        module.add_note(sessions, incident_id, actor, text)
        return f"note added to incident {incident_id} by {actor}"

    _change(config, call)


@incidents.command("hold")
@config_options
@incident_id_argument
@click.option("--reason", default="", metavar="TEXT",
              help="Why it is held (a police inquiry, a LADO referral...), for the trail.")
@actor_option
def incidents_hold(config: Config, incident_id: int, reason: str, actor: str) -> None:
    """Put an incident under evidence hold: retention and erasure leave its items and evidence
    alone until the hold is released. Its items are kept in the evidence chain if they are not
    there yet."""
    def call(module, sessions) -> str:
        with sessions() as session:
            already = module.get(session, incident_id).held_at is not None
        incident = module.hold(sessions, incident_id, actor, reason)
        if already:  # the first hold's name, time and reason stand
            return (f"incident {incident_id} is already under evidence hold (by "
                    f"{incident.held_by}); nothing changed")
        return f"incident {incident_id} put under evidence hold by {actor}"

    _change(config, call)


@incidents.command("release")
@config_options
@incident_id_argument
@actor_option
def incidents_release(config: Config, incident_id: int, actor: str) -> None:
    """Release an incident's evidence hold: from now on retention treats it like any other."""
    def call(module, sessions) -> str:
        module.release(sessions, incident_id, actor)
        return f"evidence hold on incident {incident_id} released by {actor}"

    _change(config, call)
