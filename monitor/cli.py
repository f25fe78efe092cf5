"""The `hallmonitor` command.

Bad input never ends in a traceback: configuration problems exit 2 with one line per problem,
other failures exit 1 with a one-line message (`--debug` shows the traceback).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from monitor.errors import ConfigError, DatabaseError

# Only what every command needs is imported here: `hallmonitor classify` must start fast, so the
# database and config machinery are imported by the commands that use them.
if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from monitor import models
    from monitor.config import Config

CONFIG_ENV = "HALLMONITOR_CONFIG"
DEMO_DATA_DIR = Path("hallmonitor-demo")


class Failure(click.ClickException):
    """A clear one-line failure; exit 1."""


# --- shared plumbing ----------------------------------------------------------------------------

def _config_path(path: str | None) -> Path:
    if path:
        return Path(path)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    default = Path("config.toml")
    if default.exists():
        return default
    raise ConfigError([
        "no configuration: pass --config PATH, set HALLMONITOR_CONFIG, or create ./config.toml "
        "(copy config.example.toml); to try the built-in demo use --demo"])


def load_config(path: str | None, demo: bool) -> Config:
    from monitor import config as config_module
    if demo:
        return config_module.demo_config(DEMO_DATA_DIR.resolve())
    return config_module.load(_config_path(path))


def config_options(command: Callable) -> Callable:
    @click.option("--config", "-c", "config_path", metavar="PATH",
                  help=f"Config file (default: ${CONFIG_ENV} or ./config.toml).")
    @click.option("--demo", is_flag=True, help="Use the built-in demo configuration.")
    @wraps(command)
    def wrapper(*args, config_path: str | None, demo: bool, **kwargs):
        return command(*args, config=load_config(config_path, demo), **kwargs)

    return wrapper


def open_db(config: Config, *, upgrade: bool | None = None) -> sessionmaker[Session]:
    """Sessions on the configured database. An embedded SQLite database is upgraded on the spot;
    a shared server database must be upgraded deliberately with `hallmonitor db upgrade`."""
    from monitor import db
    engine = db.make_engine(config.database_url)
    if upgrade is None:
        upgrade = engine.dialect.name == "sqlite"
    if upgrade:
        db.upgrade(engine)
    elif not db.is_current(engine):
        raise Failure("the database schema is not current: run 'hallmonitor db upgrade'")
    return db.session_factory(engine)


def local_time(value: datetime | None, tz: str) -> str:
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # Third-party chatter (HTTP retries, scheduler ticks) is noise at INFO.
    for noisy in ("apscheduler", "urllib3", "apprise", "tweepy", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- the commands -------------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Hall Monitor: watches a school's social media accounts, flags harmful comments and tells
    the right person in time."""
    ctx.obj = {"debug": debug}


@cli.command()
@config_options
@click.option("--verbose", "-v", is_flag=True, help="Log debugging detail.")
def run(config: Config, verbose: bool) -> None:
    """Run the daemon until Ctrl-C or SIGTERM."""
    from monitor.daemon import Daemon

    setup_logging(verbose)
    sessions = open_db(config)
    names = ", ".join(school.name for school in config.schools)
    click.echo(f"Hall Monitor watching {names}; database {_shown_db(config)}. "
               "Ctrl-C to stop.", err=True)
    raise SystemExit(Daemon(config, sessions).run_forever())


def _shown_db(config: Config) -> str:
    from sqlalchemy.engine import make_url

    return make_url(config.database_url).render_as_string(hide_password=True)


@cli.command()
@config_options
@click.option("--once", is_flag=True, help="One cycle, then exit (the only mode: kept for "
              "clarity in scripts).")
@click.option("--source", "source_ids", type=int, multiple=True, metavar="ID",
              help="Only this source (repeatable); see 'hallmonitor sources'.")
def poll(config: Config, once: bool, source_ids: tuple[int, ...]) -> None:
    """Poll every source (or the ones named) once, send due alerts, and exit."""
    from monitor.daemon import Daemon

    setup_logging(False)
    daemon = Daemon(config, open_db(config))
    results = daemon.poll_once(list(source_ids) or None)
    if source_ids and not results:
        raise Failure(f"no enabled source with id {', '.join(map(str, source_ids))}")
    for result in results:
        state = "busy (held by another daemon)" if not result.claimed else (
            f"error: {result.error}" if result.error else "ok")
        click.echo(f"source {result.source_id}: {result.new_items} new items, "
                   f"{result.alerts} alerts, {result.pages} pages — {state}")
    stats = daemon.deliver_once()
    click.echo(f"deliveries: {stats.sent} sent, {stats.failed} to retry, {stats.dead} dead")
    if any(r.error for r in results):
        raise SystemExit(1)


@cli.command()
@config_options
def deliver(config: Config) -> None:
    """Send the alerts that are due now, and exit."""
    from monitor import notify
    from monitor.daemon import worker_id

    stats = notify.deliver_due(config, open_db(config), worker_id())
    click.echo(f"deliveries: {stats.sent} sent, {stats.failed} to retry, {stats.dead} dead")


@cli.command("check-config")
@click.argument("path", required=False)
@click.option("--demo", is_flag=True, help="Check the built-in demo configuration.")
def check_config(path: str | None, demo: bool) -> None:
    """Validate a config file and print what would run (secrets masked)."""
    from monitor import secrets
    from monitor.rules import categories_by_role

    config = load_config(path, demo)
    click.echo(f"Config OK: {config.path or 'built-in demo'}")
    click.echo(f"Database: {_shown_db(config)}")
    click.echo(f"Data directory: {config.daemon.data_dir}")
    for school in config.schools:
        click.echo(f"\nSchool {school.id}: {school.name} ({config.school_timezone(school)})")
        if school.quiet_hours:
            click.echo(f"  quiet hours: {school.quiet_hours.start:%H:%M}–"
                       f"{school.quiet_hours.end:%H:%M} (urgent alerts ignore them)")
        click.echo("  sources:")
        for account in school.accounts:
            state = "" if account.enabled else " (disabled)"
            creds = ", ".join(f"{k}={v}" for k, v in account.credentials.items()) or "none"
            for kind in account.kinds:
                click.echo(f"    {account.platform} {account.account} {kind} every "
                           f"{_duration(account.poll_interval)}{state}; credentials: {creds}")
        click.echo("  recipients:")
        for recipient in school.recipients:
            shown = ", ".join(u if secrets.is_reference(u) else secrets.mask_url(u)
                              for u in recipient.urls)
            click.echo(f"    {recipient.role}{' ' + recipient.name if recipient.name else ''}: "
                       f"{shown}")
        roles = {recipient.role for recipient in school.recipients}
        for role, categories in categories_by_role(school).items():
            if role not in roles:
                click.echo(f"  warning: no '{role}' recipient: alerts for "
                           f"{', '.join(categories)} will be recorded but sent to nobody")


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


@cli.command("sources")
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


@cli.group()
def items() -> None:
    """Stored comments and mentions."""


@items.command("list")
@config_options
@click.option("--limit", default=50, show_default=True)
@click.option("--flagged", is_flag=True,
              help="Only items needing moderation (normal severity or above).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def items_list(config: Config, limit: int, flagged: bool, fmt: str) -> None:
    """The newest items with their verdicts."""
    from sqlalchemy import select

    from monitor import models
    sessions = open_db(config)
    with sessions() as session:
        query = (select(models.Item, models.Verdict)
                 .outerjoin(models.Verdict, models.Verdict.item_id == models.Item.id)
                 .order_by(models.Item.created_at.desc(), models.Item.id.desc()).limit(limit))
        if flagged:
            query = query.where(models.Verdict.severity.in_(("urgent", "high", "normal")))
        rows = session.execute(query).all()
    if fmt == "json":
        for item, verdict in rows:
            click.echo(json.dumps({
                "id": item.id, "platform": item.platform, "external_id": item.external_id,
                "kind": item.kind, "author": item.author_name or item.author_handle,
                "text": item.text, "created_at": item.created_at.isoformat(),
                "permalink": item.permalink,
                "categories": list(verdict.categories) if verdict else [],
            }, ensure_ascii=False))
        return
    tz = config.daemon.timezone
    click.echo(table(["id", "when", "platform", "author", "categories", "text"], [
        [item.id, local_time(item.created_at, tz), item.platform,
         (item.author_name or item.author_handle)[:20],
         ",".join(verdict.categories) if verdict else "-",
         " ".join(item.text.split())[:60]] for item, verdict in rows]))


@cli.group()
def alerts() -> None:
    """Alerts and their deliveries."""


@alerts.command("list")
@config_options
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def alerts_list(config: Config, limit: int, fmt: str) -> None:
    """The newest alerts, with who they went to and how delivery went."""
    from sqlalchemy import select

    from monitor import models
    sessions = open_db(config)
    with sessions() as session:
        rows = list(session.scalars(
            select(models.Alert).order_by(models.Alert.id.desc()).limit(limit)))
        payload = [_alert_json(alert) for alert in rows]
    if fmt == "json":
        for entry in payload:
            click.echo(json.dumps(entry, ensure_ascii=False))
        return
    tz = config.daemon.timezone
    click.echo(table(["id", "when", "severity", "categories", "to", "delivery", "title"], [
        [a["id"], local_time(datetime.fromisoformat(a["created_at"]), tz), a["severity"],
         ",".join(a["categories"]), ",".join(sorted({r for d in a["deliveries"]
                                                      for r in d["roles"]})) or "-",
         ",".join(sorted({d["status"] for d in a["deliveries"]})) or "none",
         a["title"][:70]] for a in payload]))


def _alert_json(alert: models.Alert) -> dict:
    from monitor import secrets
    item = alert.item
    return {
        "id": alert.id, "kind": alert.kind, "severity": alert.severity,
        "categories": list(alert.categories), "title": alert.title, "body": alert.body,
        "dedupe_key": alert.dedupe_key, "school": alert.school_id,
        "incident_id": alert.incident_id, "created_at": alert.created_at.isoformat(),
        "item": None if item is None else {
            "id": item.id, "platform": item.platform, "external_id": item.external_id,
            "kind": item.kind, "text": item.text, "author": item.author_name or
            item.author_handle, "permalink": item.permalink,
            "created_at": item.created_at.isoformat()},
        "recipients": sorted({role for d in alert.deliveries for role in d.roles}),
        "deliveries": [{
            "destination": d.destination if secrets.is_reference(d.destination)
            else secrets.mask_url(d.destination),
            "roles": list(d.roles), "status": d.status, "attempts": d.attempts,
            "last_error": d.last_error,
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        } for d in alert.deliveries],
    }


@cli.group()
def incidents() -> None:
    """Incidents: flagged items that belong together, and who has dealt with them."""


@incidents.command("list")
@config_options
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def incidents_list(config: Config, show_all: bool, limit: int, fmt: str) -> None:
    """Open and acknowledged incidents, most serious and newest first."""
    from sqlalchemy import select

    from monitor import models
    sessions = open_db(config)
    with sessions() as session:
        query = select(models.Incident).order_by(models.Incident.last_item_at.desc()).limit(limit)
        if not show_all:
            query = query.where(models.Incident.status != "resolved")
        rows = list(session.scalars(query))
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({
                "id": row.id, "school": row.school_id, "status": row.status,
                "severity": row.severity, "categories": list(row.categories),
                "items": row.item_count, "opened_at": row.opened_at.isoformat(),
                "last_item_at": row.last_item_at.isoformat(),
                "acknowledged_by": row.acknowledged_by}))
        return
    tz = config.daemon.timezone
    order = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    rows.sort(key=lambda r: (r.status == "resolved", order.get(r.severity, 4)))
    click.echo(table(["id", "status", "severity", "items", "categories", "last item", "by"], [
        [r.id, r.status, r.severity, r.item_count, ",".join(r.categories),
         local_time(r.last_item_at, tz), r.acknowledged_by or "-"] for r in rows]))


def _incident_change(change: str) -> Callable:
    @config_options
    @click.argument("incident_id", type=int)
    @click.option("--by", "actor", default=lambda: os.environ.get("USER", "cli"),
                  help="Who is acting (recorded in the audit trail).")
    def command(config: Config, incident_id: int, actor: str) -> None:
        from monitor import incidents as incidents_module

        try:
            getattr(incidents_module, change)(open_db(config), incident_id, actor)
        except incidents_module.IncidentError as exc:
            raise Failure(str(exc)) from None
        click.echo(f"incident {incident_id} {change}d by {actor}")

    return command


incidents.command("ack", help="Acknowledge an incident: stops its escalation.")(
    _incident_change("acknowledge"))
incidents.command("resolve", help="Mark an incident as dealt with.")(
    _incident_change("resolve"))


@cli.command()
@click.option("--jsonl", is_flag=True, help="Read JSON lines with a 'text' field.")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Use this config's thresholds, keywords and allowlist.")
def classify(jsonl: bool, config_path: str | None) -> None:
    """Classify text from stdin, one per line; print one JSON verdict per line."""
    from classifiers import ClassifierOptions, load_classifier
    from monitor import config as config_module
    from monitor.classify import options_for

    options = (options_for(config_module.load(Path(config_path)), None) if config_path
               else ClassifierOptions())
    classifier = load_classifier(options)
    stdin = click.get_text_stream("stdin", errors="replace")
    batch: list[str] = []
    for number, line in enumerate(stdin, 1):
        line = line.rstrip("\n")
        if jsonl:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text = record["text"]
                if not isinstance(text, str):
                    raise TypeError
            except (json.JSONDecodeError, KeyError, TypeError):
                _write_verdicts(classifier, batch)  # what came before is still answered
                raise Failure(f"line {number}: not a JSON object with a text field") from None
        else:
            text = line
        batch.append(text)
        if len(batch) >= 512:
            _write_verdicts(classifier, batch)
            batch = []
    if batch:
        _write_verdicts(classifier, batch)


def _write_verdicts(classifier, texts: list[str]) -> None:
    out = sys.stdout
    for verdict in classifier.predict(texts):
        out.write(json.dumps(verdict.as_dict(), ensure_ascii=False) + "\n")
    out.flush()


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@config_options
def db_upgrade(config: Config) -> None:
    """Create or upgrade the database schema to this version."""
    open_db(config, upgrade=True)
    click.echo(f"database {_shown_db(config)} is up to date")


@cli.command()
@config_options
@click.argument("action", type=click.Choice(["hide", "unhide", "delete", "block", "mute"]))
@click.argument("item_id", type=int)
@click.option("--by", "actor", default=lambda: os.environ.get("USER", "cli"),
              help="Who is acting (recorded in the audit trail).")
def action(config: Config, action: str, item_id: int, actor: str) -> None:
    """Hide, unhide, delete, block or mute ITEM_ID on its platform (recorded in the audit log)."""
    from monitor.actions import ActionError, take_action

    try:
        record = take_action(config, open_db(config), action, item_id, actor)
    except ActionError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"{'done' if record.ok else 'FAILED'}: {record.result}")
    if not record.ok:
        raise SystemExit(1)


@cli.group()
def model() -> None:
    """The triage model: train it, evaluate it, see what is shipped."""


@model.command("train")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Public labelled data (default: ../shared/data beside the repository, or "
                   "$HALLMONITOR_SHARED_DIR/data).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Where to write the model (default: the file shipped in the package).")
@click.option("--seed", default=0, show_default=True, help="Random seed (training is "
              "reproducible for a given seed and data).")
def model_train(data_dir: Path | None, out: Path | None, seed: int) -> None:
    """Train the model on the train splits, choose thresholds on validation data, evaluate on
    the test splits, and save it with its hashes and figures."""
    from classifiers.model_file import MODEL_PATH
    from classifiers.training import train

    try:
        metadata = train(data_dir, out or MODEL_PATH, seed=seed, log=click.echo)
    except (FileNotFoundError, ValueError) as exc:
        raise Failure(str(exc)) from None
    click.echo(f"saved model {metadata.get('version', '')} to {out or MODEL_PATH}")


@model.command("evaluate")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Labelled CSV or JSONL: 'text' plus 'labels' (categories) or 'label' (0/1, "
                   "1 = offensive).")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Use this config's thresholds, keywords and allowlist.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def model_evaluate(data: Path, config_path: str | None, fmt: str) -> None:
    """Per-category precision, recall and F1, and the confusion between categories."""
    from classifiers import ClassifierOptions, load_classifier
    from classifiers.evaluation import evaluate
    from monitor import config as config_module
    from monitor.classify import options_for

    options = (options_for(config_module.load(Path(config_path)), None) if config_path
               else ClassifierOptions())
    try:
        report = evaluate(load_classifier(options), data)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    click.echo(json.dumps(report.as_dict(), indent=2) if fmt == "json" else report.format())


@model.command("info")
def model_info_command() -> None:
    """The shipped model's version, training data hashes, scikit-learn version and figures."""
    from classifiers.model_file import model_info

    click.echo(json.dumps(model_info(), indent=2, default=str))


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="hallmonitor", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"hallmonitor: config error: {problem}", err=True)
        raise SystemExit(2) from None
    except DatabaseError as exc:
        click.echo(f"hallmonitor: database error: {exc}", err=True)
        raise SystemExit(2) from None
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            raise
        click.echo(f"hallmonitor: error: {type(exc).__name__}: {exc} (run with --debug for "
                   "details)", err=True)
        raise SystemExit(1) from None
