"""`watchlist add|remove|list|import|export`: IT's list of accounts and name patterns of concern.

See monitor/watchlist.py for how entries match, and docs/watchlist.md for the CSV format.
"""

from __future__ import annotations

import csv
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.common import BadInput, actor_option, config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.watchlist import HandleLookup, HandleResolver

# The longest reason shown in a table; `export` gives them whole.
REASON_WIDTH = 60
# The most handles named in one note about handles not looked up.
NAMED = 5


def _school_of(config: Config, school_id: str | None, trust: bool) -> str | None:
    """The entry's scope: a school of the config, the whole trust (None), or with neither
    option the config's only school."""
    if school_id is not None and trust:
        raise BadInput("give --school or --trust, not both")
    if trust:
        return None
    if school_id is None:
        if len(config.schools) == 1:
            return config.schools[0].id
        raise BadInput("say whose entry it is: --school ID (one of "
                       f"{', '.join(s.id for s in config.schools)}) or --trust")
    if config.find_school(school_id) is None:
        raise BadInput(f"unknown school {school_id!r}: the config has "
                       f"{', '.join(s.id for s in config.schools)}")
    return school_id


@click.group()
def watchlist() -> None:
    """Accounts and name patterns IT is concerned about: add, remove, list, import, export."""


@watchlist.command("add")
@config_options
@click.option("--platform", metavar="NAME",
              help="x, facebook or instagram (needed for --id and --handle; a pattern without "
                   "it applies on every platform).")
@click.option("--id", "account_id", metavar="ID", help="The account's platform id.")
@click.option("--handle", metavar="HANDLE",
              help="The account's handle; looked up to its id where the platform allows (X), "
                   "otherwise its id is recorded the first time it is seen.")
@click.option("--keep-unresolved", is_flag=True,
              help="Add a handle the platform says nobody has, to wait for it to be seen.")
@click.option("--pattern", metavar="TEXT",
              help="A word or phrase in a handle or display name (whole words; case, accents "
                   "and leetspeak ignored).")
@click.option("--reason", required=True, help="Why the account is a concern.")
@click.option("--school", "school_id", metavar="ID", help="For this school only.")
@click.option("--trust", is_flag=True, help="For every school of the trust.")
@click.option("--expires", metavar="DATE|DAYS",
              help="Stop matching after this date (YYYY-MM-DD, to the end of the day) or this "
                   "many days.")
@actor_option
def watchlist_add(config: Config, platform: str | None, account_id: str | None,
                  handle: str | None, pattern: str | None, reason: str, school_id: str | None,
                  trust: bool, expires: str | None, keep_unresolved: bool, actor: str) -> None:
    """Watch an account (--id or --handle, with --platform) or a name pattern (--pattern).
    A handle is looked up to its id through one of the school's accounts on that platform,
    where the platform allows it."""
    from monitor import watchlist as wl

    scope = _school_of(config, school_id, trust)
    now = datetime.now(UTC)
    timezone = (config.school_timezone(config.school(scope)) if scope
                else config.daemon.timezone)
    resolver = wl.HandleResolver(config)
    try:
        expires_at = wl.parse_expiry(expires or "", now, timezone)
        with open_db(config).begin() as session:
            entry = wl.add(session, config, reason=reason, added_by=actor, platform=platform,
                           account_id=account_id, handle=handle, pattern=pattern,
                           school_id=scope, expires_at=expires_at, now=now,
                           resolver=resolver, keep_unresolved=keep_unresolved)
            line = _added_line(config, entry)
    except wl.WatchlistError as error:
        raise BadInput(str(error)) from None
    _echo_lookups(resolver)
    click.echo(line)


def _echo_lookups(resolver: HandleResolver) -> None:
    """What the handle lookups gave, one line each; handles that could not be looked up for the
    same reason (a whole file of Instagram handles, say) share one line."""
    waiting: dict[str, list[HandleLookup]] = {}
    for lookup in resolver.lookups:
        if lookup.found is None and not lookup.unknown:
            waiting.setdefault(lookup.why_not, []).append(lookup)
        else:
            kept = "; added by its handle, as asked" if lookup.unknown else ""
            click.echo(lookup.line() + kept)
    for why_not, handles in waiting.items():
        if len(handles) == 1:
            click.echo(handles[0].line())
            continue
        shown = ", ".join(f"@{h.handle}" for h in handles[:NAMED])
        more = f" and {len(handles) - NAMED} more" if len(handles) > NAMED else ""
        click.echo(f"note: {len(handles)} handles ({shown}{more}) could not be looked up "
                   f"({why_not}); each id will be filled in the first time its handle is seen")


def _scope(config: Config, school_id: str | None) -> str:
    return "the whole trust" if school_id is None else config.school_name(school_id)


def _added_line(config: Config, entry) -> str:
    from monitor import watchlist as wl

    where = f" on {entry.platform}" if entry.platform else " on every platform"
    until = (f", until {local_time(entry.expires_at, config.daemon.timezone)}"
             if entry.expires_at else "")
    return (f"added entry #{entry.id}: {wl.describe_match(entry)}{where}, for "
            f"{_scope(config, entry.school_id)}{until}")


@watchlist.command("remove")
@config_options
@click.argument("entry_id", type=int)
@actor_option
def watchlist_remove(config: Config, entry_id: int, actor: str) -> None:
    """Stop watching ENTRY_ID. The entry is kept, marked removed, for the record."""
    from monitor import watchlist as wl

    try:
        with open_db(config).begin() as session:
            entry = wl.remove(session, entry_id, actor)
            line = f"removed entry #{entry.id} ({wl.describe_match(entry)}) by {actor}"
    except wl.WatchlistError as error:
        raise BadInput(str(error)) from None
    click.echo(line)


@watchlist.command("list")
@config_options
@click.option("--school", "school_id", metavar="ID",
              help="Only the entries that apply to this school (its own and the trust's).")
@click.option("--all", "show_all", is_flag=True, help="Include expired and removed entries.")
def watchlist_list(config: Config, school_id: str | None, show_all: bool) -> None:
    """The watchlist: what each entry matches, for whom, why, who added it and until when."""
    from monitor import watchlist as wl

    if school_id is not None and config.find_school(school_id) is None:
        raise BadInput(f"unknown school {school_id!r}: the config has "
                       f"{', '.join(s.id for s in config.schools)}")
    now = datetime.now(UTC)
    states = ("active", "expired", "removed") if show_all else ("active",)
    tz = config.daemon.timezone
    with open_db(config)() as session:
        rows = wl.entries(session, now, school_id=school_id, states=states)
        if not rows:
            click.echo("the watchlist is empty" if not show_all else "no entries")
            return
        headers = ["id", "school", "platform", "matches", "reason", "added by", "added",
                   "expires", "state"]
        click.echo(table(headers, [
            [e.id, e.school_id or "(trust)", e.platform or "(any)", wl.describe_match(e),
             _short(e.reason), e.added_by, local_time(e.added_at, tz),
             local_time(e.expires_at, tz),
             wl.state(e, now) + (f" by {e.removed_by}" if e.removed_at else "")]
            for e in rows]))


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_WIDTH else flat[:REASON_WIDTH - 1] + "…"


@watchlist.command("import")
@config_options
@click.argument("path", metavar="FILE.csv",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keep-unresolved", is_flag=True,
              help="Import handles the platform says nobody has, to wait for them to be seen.")
@actor_option
def watchlist_import(config: Config, path: Path, keep_unresolved: bool, actor: str) -> None:
    """Add the entries in FILE.csv (header: platform,account_id,handle,pattern,reason,school,
    expires,added_by). If any row is bad, every bad line is listed and nothing is added. Rows
    with a handle and no id are looked up to their id where the platform allows it."""
    from monitor import watchlist as wl

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text: save it as CSV UTF-8") from None
    resolver = wl.HandleResolver(config)
    try:
        with open_db(config).begin() as session:
            done = wl.import_csv(session, config, text, added_by=actor, resolver=resolver,
                                 keep_unresolved=keep_unresolved)
            count = len(done.added)
    except wl.ImportProblems as problems:
        for problem in problems.problems:
            click.echo(f"{path.name}: {problem}", err=True)
        raise BadInput(f"nothing imported: {problems} in {path.name}") from None
    except wl.WatchlistError as error:
        raise BadInput(str(error)) from None
    kept = (f"; {done.unchanged} already on the watchlist, left as they are"
            if done.unchanged else "")
    _echo_lookups(resolver)
    click.echo(f"imported {count} entr{'y' if count == 1 else 'ies'} from {path.name}{kept}")


@watchlist.command("export")
@config_options
@click.argument("path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--school", "school_id", metavar="ID",
              help="Only the entries that apply to this school (its own and the trust's).")
def watchlist_export(config: Config, path: Path, school_id: str | None) -> None:
    """Write the active entries to FILE.csv ('-' for standard output), in the format
    'watchlist import' reads."""
    from monitor import watchlist as wl

    if school_id is not None and config.find_school(school_id) is None:
        raise BadInput(f"unknown school {school_id!r}: the config has "
                       f"{', '.join(s.id for s in config.schools)}")
    with open_db(config)() as session:
        text = wl.export_csv(session, datetime.now(UTC), school_id=school_id)
    count = sum(1 for _ in csv.reader(io.StringIO(text))) - 1
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot write {path}: {error.strerror}") from None
    click.echo(f"exported {count} entr{'y' if count == 1 else 'ies'} to {path}")
