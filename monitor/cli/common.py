"""What the commands share: finding and loading the config, opening the database, tables and times.

Only what every command needs is imported at module level: `hallmonitor classify` must start fast,
so the database and config machinery are imported by the functions that use them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from monitor.config import Config

CONFIG_ENV = "HALLMONITOR_CONFIG"
DEMO_DATA_DIR = Path("hallmonitor-demo")


class Failure(click.ClickException):
    """A clear one-line failure; exit 1."""


class BadInput(click.ClickException):
    """Input the command cannot use (no such item, an unknown name, clashing options): one line,
    exit 2 like any other usage error."""

    exit_code = 2


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


def shown_db(config: Config) -> str:
    """The database URL with its password masked."""
    from sqlalchemy.engine import make_url

    return make_url(config.database_url).render_as_string(hide_password=True)


def actor_option(command: Callable) -> Callable:
    """`--by NAME`: who is acting, recorded in the audit trail (default: $USER)."""
    return click.option("--by", "actor", default=lambda: os.environ.get("USER", "cli"),
                        help="Who is acting (recorded in the audit trail).")(command)
