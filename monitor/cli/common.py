"""What the commands share: finding and loading the config, opening the database, tables and times.

Only what every command needs is imported at module level: `hallmonitor classify` must start fast,
so the database and config machinery are imported by the functions that use them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, urlsplit
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
        config = config_module.demo_config(DEMO_DATA_DIR.resolve())
    else:
        config = config_module.load(_config_path(path))
    # From here on the logs know what they must never show.
    add_secrets(config_secrets(config))
    return config


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


# Libraries kept at WARNING even under --verbose: their chatter is noise, and oauthlib and
# requests-oauthlib log OAuth 1.0a consumer keys and tokens (signatures, headers) at DEBUG.
QUIET_LOGGERS = ("apscheduler", "urllib3", "apprise", "tweepy", "alembic", "oauthlib",
                 "requests_oauthlib")


def setup_logging(verbose: bool, secrets: Iterable[str] = ()) -> None:
    """Log to stderr, with every configured secret (and any in `secrets`) redacted from every
    record that reaches the root handlers, at any level."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger().setLevel(level)  # also when something configured logging before us
    add_secrets(secrets)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- secrets kept out of logs -------------------------------------------------------------------

MASK = "[redacted]"
# Shorter values are left alone: redacting "abc" would mangle ordinary words, and a credential
# that short protects nothing anyway.
MIN_SECRET_LENGTH = 6
# A part of a secret URL (host, path segment, query value) that looks like this is taken for a
# token (a Telegram bot token, a Discord webhook token) and redacted on its own too; host names
# and email addresses (dots, @) are not.
TOKEN_PART = re.compile(r"[A-Za-z0-9_\-:]{16,}")

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def config_secrets(config: Config) -> set[str]:
    """Every secret value the config resolved: credentials, secret Apprise URLs and the parts of
    them that are secrets on their own, and the database password."""
    values = {secret.reveal() for secret in config.secrets.values()}
    parts = _url_secrets(config.database_url, tokens=False)
    for value in values:
        parts |= _url_secrets(value, tokens=True)
    return values | parts


def _url_secrets(value: str, *, tokens: bool) -> set[str]:
    """The password of a URL, and with `tokens` its token-like path segments and query values."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return set()
    found = {password} if password else set()
    if tokens and parts.scheme and parts.netloc:
        pieces = [parts.netloc.rpartition("@")[2], *parts.path.split("/"),
                  *(p.partition("=")[2] for p in parts.query.split("&"))]
        found |= {piece for piece in pieces if TOKEN_PART.fullmatch(piece)}
    return found


def add_secrets(values: Iterable[str]) -> None:
    """Values no log record may show from now on, as written and as URL-encoded: URLs carry
    encoded tokens, and an OAuth 1.0a signature base string encodes its parameters twice."""
    global _pattern
    variants = set()
    for value in values:
        if value and len(value) >= MIN_SECRET_LENGTH:
            encoded = quote(value, safe="")
            variants |= {value, encoded, quote_plus(value), quote(value),
                         quote(encoded, safe="")}
    with _lock:
        if variants <= _secrets:
            return
        _secrets.update(variants)
        # Longest first, so a value is replaced whole before any shorter value inside it.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def forget_secrets() -> None:
    """Start again with no known secrets (each test configures its own)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def redact(text: str) -> str:
    """`text` with every known secret replaced by a marker."""
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


class RedactSecrets(logging.Filter):
    """Rewrites a record with known secrets redacted from its message (arguments included),
    exception text and stack. Installed on the root handlers: the record is rewritten in
    place, so every handler after it sees the redacted text too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show what there is, never fail to log
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def shown_db(config: Config) -> str:
    """Where the database is, without its password."""
    from monitor.db import shown_url

    return shown_url(config.database_url)


def actor_option(command: Callable) -> Callable:
    """`--by NAME` (or `--actor NAME`): who is acting, recorded in the audit trail (default:
    $USER)."""
    return click.option("--by", "--actor", "actor", metavar="NAME",
                        default=lambda: os.environ.get("USER", "cli"),
                        help="Who is acting (recorded in the audit trail).")(command)
