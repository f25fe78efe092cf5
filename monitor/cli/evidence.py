"""`evidence verify|list|export`: the schools' evidence chains, and a folder a head can hand over.

See monitor/evidence/ for what is recorded and how the chain is checked, and docs/evidence.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.common import (
    BadInput,
    Failure,
    actor_option,
    config_options,
    load_config,
    local_time,
    open_db,
)
from monitor.cli.common import table as text_table
from monitor.cli.incidents import IncidentId

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor import models
    from monitor.config import Config

# How much of an item's text `evidence list` shows: enough to tell entries apart.
PREVIEW = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@click.group("evidence")
def evidence_group() -> None:
    """The schools' evidence chains, and a folder a head can hand over."""


@evidence_group.command("verify")
@click.argument("folder", required=False, metavar="[DIR]")
@click.option("--school", "school_id", metavar="ID", help="Only this school's chain.")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Config file (default: $HALLMONITOR_CONFIG or ./config.toml).")
@click.option("--demo", is_flag=True, help="Use the built-in demo configuration.")
def evidence_verify(folder: str | None, school_id: str | None, config_path: str | None,
                    demo: bool) -> None:
    """Check every school's evidence chain (or one school's) in the database and name the first
    entry that was edited, deleted or moved; exit 1 when one was.

    Given DIR, an exported evidence folder, check that folder on its own instead: no config or
    database is needed, and nothing is sent anywhere."""
    if folder is not None:
        if school_id is not None:
            raise BadInput("give an exported folder or --school, not both")
        _verify_folder(Path(folder))
        return
    config = load_config(config_path, demo)
    from monitor.evidence import chain

    with open_db(config)() as session:
        schools = chain.schools_with_evidence(session)
        if school_id is not None:
            if school_id not in schools and config.find_school(school_id) is None:
                raise BadInput(f"unknown school {school_id!r}: the config has "
                               f"{', '.join(s.id for s in config.schools)}")
            schools = [school_id]
        if not schools:
            click.echo("no evidence recorded yet")
            return
        reports = [chain.verify_school(session, school) for school in schools]
    broken = False
    for report in reports:
        click.echo(f"school {report.school_id}: {report.entries} entries, {report.removed} "
                   f"with content removed, head {report.head}")
        if report.broken is None:
            click.echo("  intact")
        else:
            broken = True
            click.echo(f"  BROKEN: {report.broken}")
    if broken:
        raise SystemExit(1)


def _verify_folder(path: Path) -> None:
    if not path.is_dir():
        raise BadInput(f"{path} is not a folder: give an exported evidence folder, or no "
                       "argument to check the chains in the database")
    from monitor.evidence.export import verify_folder

    report = verify_folder(path)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@evidence_group.command("export")
@config_options
@click.option("--incident", "incident_id", type=IncidentId(), required=True,
              help="The incident whose evidence to export.")
@click.option("--out", "out_dir", metavar="DIR", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) folder to write it to.")
@actor_option
def evidence_export(config: Config, incident_id: int, out_dir: Path, actor: str) -> None:
    """Write an incident's evidence to a folder a head can hand over (a readable report, the
    records, the raw payloads and a manifest of SHA-256 sums), and put the incident under
    evidence hold."""
    from monitor.evidence.export import ExportError, export_incident

    try:
        result = export_incident(config, open_db(config), incident_id, out_dir, actor)
    except ExportError as exc:
        raise Failure(str(exc)) from None
    for line in result.lines():
        click.echo(line)


@evidence_group.command("list")
@config_options
@click.option("--incident", "incident_id", type=IncidentId(),
              help="Only entries about this incident or its items.")
@click.option("--school", "school_id", metavar="ID", help="Only this school's chain.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Show the latest this many entries.")
def evidence_list(config: Config, incident_id: int | None, school_id: str | None,
                  limit: int) -> None:
    """The entries of the evidence chains, oldest first: what each is about and whether its
    content is still held (retention and erasure may remove content, never the entry)."""
    if incident_id is not None and school_id is not None:
        raise BadInput("give --incident or --school, not both")
    with open_db(config)() as session:
        rows = _entries(session, incident_id, school_id, limit)
        if not rows:
            click.echo("no evidence recorded" + (f" for incident {incident_id}"
                                                 if incident_id else ""))
            return
        click.echo(text_table(
            ["school", "seq", "kind", "recorded", "item", "incident", "content", "what"],
            [[r.school_id, r.seq, r.kind, local_time(r.recorded_at, _timezone(config, r)),
              r.item_id or "-",
              r.incident_id or "-", "removed" if r.content is None else "kept",
              _what(r)] for r in rows]))


def _timezone(config: Config, row: models.EvidenceRecord) -> str:
    school = config.find_school(row.school_id)
    return config.school_timezone(school) if school else config.daemon.timezone


def _entries(session: Session, incident_id: int | None, school_id: str | None,
             limit: int) -> list[models.EvidenceRecord]:
    from sqlalchemy import or_, select

    from monitor import models

    record = models.EvidenceRecord
    query = select(record)
    if incident_id is not None:
        query = query.where(or_(record.incident_id == incident_id, record.item_id.in_(
            select(models.IncidentItem.item_id)
            .where(models.IncidentItem.incident_id == incident_id))))
    if school_id is not None:
        query = query.where(record.school_id == school_id)
    latest = list(session.scalars(query.order_by(record.id.desc()).limit(limit)))
    return sorted(latest, key=lambda r: (r.school_id, r.seq))


def _what(row: models.EvidenceRecord) -> str:
    """One short line about an entry: why an item was kept and the start of its text, a step's
    action, who and whether it worked, or what a removal removed."""
    content = row.content
    if content is None:
        return "(content removed)"
    if row.kind == "item":
        text = _CONTROL.sub(" ", str((content.get("item") or {}).get("text") or ""))
        if len(text) > PREVIEW:
            text = text[:PREVIEW - 1].rstrip() + "…"
        return f"{content.get('reason', '')}: \"{text}\""
    if row.kind == "step":
        outcome = "" if content.get("ok", True) else " (failed)"
        return f"{content.get('action', '')} by {content.get('actor', '')}{outcome}"
    if row.kind == "removal":
        removed = content.get("removed") or []
        return f"content of {len(removed)} entries removed ({content.get('reason', '')})"
    return row.kind
