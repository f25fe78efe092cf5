"""`privacy find|export|erase|describe`: people's rights over what is held about them, and
the DPIA text.

See monitor/privacy/holdings.py for what counts as a person's data, monitor/privacy/erasure.py for
what an erasure keeps, and docs/privacy.md for answering a subject access or erasure request.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
    from monitor.config import Config
    from monitor.privacy.erasure import ErasureResult
    from monitor.privacy.holdings import Holdings

# The longest text shown in a listing; the export has it whole.
TEXT_WIDTH = 60


def _author_options(command):
    command = click.option("--platform", metavar="NAME",
                           help="Only this platform (x, facebook, instagram): needed when the "
                                "handle is used on several.")(command)
    return click.option("--author", "who", required=True, metavar="HANDLE_OR_ID",
                        help="The person: a handle (with or without @, any case) or a "
                             "platform id.")(command)


@click.group("privacy")
def privacy_group() -> None:
    """People's rights over what is held about them, and the DPIA text."""


def _find(config: Config, who: str, platform: str | None) -> Holdings:
    from monitor.privacy.holdings import PrivacyError, find

    try:
        with open_db(config)() as session:
            return find(session, config, who, platform)
    except PrivacyError as error:
        raise BadInput(str(error)) from None


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TEXT_WIDTH else flat[:TEXT_WIDTH - 1] + "…"


def _listing(config: Config, holdings: Holdings) -> str:
    tz = config.daemon.timezone
    lines = ["Accounts:"] + [f"  {a.label()}" for a in holdings.accounts]
    if holdings.ambiguous:
        lines.append(f"note: {holdings.who!r} matches accounts on several platforms "
                     f"({', '.join(holdings.platforms)}); give --platform to narrow it to one")
    sections = [
        ("Items they wrote", ("id", "when", "platform", "flagged", "incidents", "hold", "text"),
         [(i.id, local_time(i.created_at, tz), i.platform,
           ",".join(i.verdict["categories"]) if i.verdict and i.verdict["categories"] else "-",
           ",".join(map(str, i.incident_ids)) or "-",
           f"#{i.held_by_incident}" if i.held_by_incident else "-", _short(i.text))
          for i in holdings.items]),
        ("Other people's items mentioning them", ("id", "when", "platform", "text"),
         [(m.id, local_time(m.created_at, tz), m.platform, _short(m.text))
          for m in holdings.mentions]),
        ("Incidents", ("id", "harm", "status", "opened", "evidence hold"),
         [(i.id, i.harm, i.status, local_time(i.opened_at, tz),
           f"since {local_time(i.held_at, tz)} by {i.held_by}" if i.held else "-")
          for i in holdings.incidents]),
        ("Alerts", ("id", "kind", "when", "why", "told (roles)"),
         [(a.id, a.kind, local_time(a.created_at, tz), a.why,
           ",".join(sorted({r for d in a.told for r in d["roles"]})) or "-")
          for a in holdings.alerts]),
        ("Evidence entries", ("school", "entry", "kind", "recorded", "content", "hold"),
         [(e.school_id, e.seq, e.kind, local_time(e.recorded_at, tz),
           "removed" if e.removed else "kept",
           f"#{e.held_by_incident}" if e.held_by_incident else "-")
          for e in holdings.evidence]),
        ("Followers", ("platform", "handle", "follows", "since", "left", "screened"),
         [(f.platform, f"@{f.handle}", f.school_account, local_time(f.followed_at, tz),
           local_time(f.unfollowed_at, tz), "yes" if f.screening else "no")
          for f in holdings.followers]),
        ("Watchlist entries", ("id", "platform", "reason", "added", "active"),
         [(w.id, w.platform or "-", _short(w.reason), local_time(w.added_at, tz),
           "yes" if w.active else "no") for w in holdings.watchlist]),
    ]
    for title, headers, rows in sections:
        lines += ["", f"{title}: {len(rows)}"]
        if rows:
            lines.append(table(headers, rows))
    return "\n".join(lines)


@privacy_group.command("find")
@config_options
@_author_options
def privacy_find(config: Config, who: str, platform: str | None) -> None:
    """List everything held about one person: what they wrote, its verdicts, incidents, alerts
    and evidence, their follower records and watchlist entries."""
    holdings = _find(config, who, platform)
    if not holdings.found:
        click.echo(f"nothing is held about {holdings.who!r}"
                   + (f" on {platform}" if platform else ""))
        return
    click.echo(_listing(config, holdings))


@privacy_group.command("export")
@config_options
@_author_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The JSON file to write, for a subject access request.")
def privacy_export(config: Config, who: str, platform: str | None, out: Path) -> None:
    """Write everything held about one person as JSON, for a subject access request: what,
    when, where, why it was flagged, who was told (roles), what was done, what is under
    evidence hold, and how long each thing is kept."""
    from monitor.privacy.access_request import export_holdings
    from monitor.privacy.holdings import ambiguity

    holdings = _find(config, who, platform)
    if not holdings.found:
        raise Failure(f"nothing is held about {holdings.who!r}"
                      + (f" on {platform}" if platform else ""))
    if holdings.ambiguous:
        raise BadInput(ambiguity(holdings))
    text = json.dumps(export_holdings(holdings), indent=2, ensure_ascii=False, default=str)
    try:
        out.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise Failure(f"could not write {out}: {error.strerror}") from None
    counts = ", ".join(f"{v} {k}" for k, v in holdings.counts().items() if v)
    click.echo(f"wrote {out}: {counts}")


@privacy_group.command("erase")
@config_options
@_author_options
@actor_option
@click.option("--include-watchlist", is_flag=True,
              help="Erase active watchlist entries naming them too (by default they are kept "
                   "as IT's safeguarding record and named).")
@click.option("--yes", is_flag=True, help="Erase without asking.")
def privacy_erase(config: Config, who: str, platform: str | None, actor: str,
                  include_watchlist: bool, yes: bool) -> None:
    """Erase what is held about one person, except what belongs to an incident under evidence
    hold (named, with who holds it and why) and active watchlist entries (named). That an
    erasure happened is recorded, with counts only."""
    from monitor.privacy.erasure import erase
    from monitor.privacy.holdings import PrivacyError, ambiguity

    holdings = _find(config, who, platform)
    if not holdings.found:
        raise Failure(f"nothing is held about {holdings.who!r}"
                      + (f" on {platform}" if platform else "") + ": nothing to erase")
    if holdings.ambiguous:
        raise BadInput(ambiguity(holdings))
    if not yes:
        click.echo(_listing(config, holdings))
        click.echo("")
        if not sys.stdin.isatty():
            raise Failure("not erasing without confirmation: run again with --yes")
        if not click.confirm("Erase all of this, except what is under evidence hold?"):
            raise Failure("nothing erased")
    try:
        result = erase(open_db(config), config, who, platform, actor=actor,
                       include_watchlist=include_watchlist)
    except PrivacyError as error:
        raise BadInput(str(error)) from None
    if not result.found:
        raise Failure(f"nothing is held about {who!r}: nothing to erase")
    click.echo(_erased(config, result))


def _erased(config: Config, result: ErasureResult) -> str:
    tz = config.daemon.timezone
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.counts.items() if v)
    lines = [f"erased ({counts or 'nothing left to erase'}); recorded as data removal "
             f"#{result.removal_id}, with counts only"]
    for kept in result.kept:
        lines.append(f"kept: incident #{kept.incident_id} is under evidence hold (held by "
                     f"{kept.held_by} since {local_time(kept.held_since, tz)}"
                     + (f": {kept.reason}" if kept.reason else "")
                     + f"): {kept.items} item(s), {kept.evidence} evidence entr"
                     + ("y" if kept.evidence == 1 else "ies")
                     + f"; erase again once it is released ('hallmonitor incidents release "
                       f"{kept.incident_id}')")
    for entry in result.watchlist_kept:
        lines.append(f"kept: watchlist entry #{entry.id} ({_short(entry.reason)}), IT's "
                     "safeguarding record; remove it with 'hallmonitor watchlist remove' and "
                     "erase again, or erase again with --include-watchlist")
    return "\n".join(lines)


@privacy_group.command("describe")
@config_options
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True, help="Markdown or a standalone HTML page.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of printing.")
def privacy_describe(config: Config, fmt: str, out: Path | None) -> None:
    """What the school's data protection impact assessment needs, from this configuration:
    what is watched and collected, why, who is told, where it is kept, for how long, the
    processors, people's rights and the safeguards."""
    from monitor.privacy.describe import describe

    text = describe(config, fmt)
    if out is None:
        click.echo(text)
        return
    try:
        out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as error:
        raise Failure(f"could not write {out}: {error.strerror}") from None
    click.echo(f"wrote {out}")
