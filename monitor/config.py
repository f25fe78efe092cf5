"""The configuration file: TOML, validated into typed settings.

Every mistake is reported with the key path that is wrong (`schools[0].accounts[1].poll_interval:
...`), an unknown key is an error rather than silently ignored, and secrets are resolved here so a
missing one is named before the daemon starts. `load()` raises `ConfigError` with one line per
problem; the CLI prints them and exits 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from classifiers import read_pupil_names
from classifiers.base import CATEGORIES
from connectors import REGISTRY
from monitor import secrets
from monitor.errors import ConfigError

DATABASE_ENV = "HALLMONITOR_DATABASE_URL"
DEMO_DIR = Path(__file__).resolve().parent / "demo"
ROLES = ("digital_champion", "dsl", "head", "it")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def _duration(value: Any) -> float:
    """Seconds from 90, 90.0, "90s", "2m", "1h" or "1d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90, \"30s\", \"2m\" or \"1h\"")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 90, \"30s\", \"2m\" or \"1h\"")
        seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ValueError("must be more than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]


def _category_keys(value: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(value) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {', '.join(unknown)} "
                         f"(known: {', '.join(CATEGORIES)})")
    return value


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (e.g. Europe/London)") from None
    return name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonSettings(Strict):
    database_url: str | None = None
    data_dir: Path = Path("hallmonitor-data")
    timezone: str = "Europe/London"
    # How often the delivery job looks for alerts to send.
    delivery_interval: Duration = 5.0
    # No longer used: deliveries are retried for `delivery_give_up_after`, however many
    # attempts that takes (a count ran out within minutes of a mail outage).
    max_delivery_attempts: int | None = Field(None, ge=1, le=50)
    # First retry wait; it doubles on each failure (with jitter), up to `retry_cap`.
    retry_base: Duration = 30.0
    retry_cap: Duration = 300.0
    # A delivery still failing this long after its first attempt is given up (IT is told).
    delivery_give_up_after: Duration = 86400.0
    # A delivery whose send was handed over but never confirmed (a crash, a timeout): "resend"
    # it marked as a possible repeat, or "hold" it for `hallmonitor deliver --resolve-unknown`.
    unknown_deliveries: Literal["resend", "hold"] = "resend"
    # How often normal and low severity alerts are sent, batched into one message per recipient.
    batch_interval: Duration = 3600.0
    # A poll renews its lease on a timer while it runs; a daemon that dies holding one is taken
    # over by another this long after its last renewal.
    lease: Duration = 60.0
    # A source that has failed for this long tells IT once (and once again when it recovers).
    failure_notice_after: Duration = 7200.0
    # An urgent incident nobody has acknowledged is sent again to the DSL and head after this.
    escalate_after: Duration = 1800.0
    # The key pupil and staff names are hashed with before they are stored (a reference,
    # "env:NAME" or "file:/path"): required when a school has pupil_names or staff_names.
    name_key: str | None = None

    _tz = field_validator("timezone")(_timezone)


class QuietHours(Strict):
    start: time
    end: time


# A field called `time` cannot also be annotated `time`.
TimeOfDay = time
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return value.strip().lower()
    raise ValueError(f"{value!r} is not a day of the week (monday, tuesday, ... sunday)")


def _time_of_day(value: Any) -> Any:
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value) if isinstance(value, str) else None
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        return time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"{value!r} is not a time of day such as \"07:30\"")


class DigestSchedule(Strict):
    """When the head's weekly digest goes out, in the school's timezone. A top-level [digest]
    table sets it for every school; a school's own [schools.digest] overrides it key by key."""

    day: Annotated[str, BeforeValidator(_weekday)] = "monday"
    time: Annotated[TimeOfDay, BeforeValidator(_time_of_day)] = TimeOfDay(7, 30)
    enabled: bool = True


class TermDates(Strict):
    """One term, first and last day inclusive (TOML dates: start = 2026-09-03)."""

    start: date
    end: date
    name: str = ""

    @model_validator(mode="after")
    def _in_order(self) -> TermDates:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Account(Strict):
    platform: str
    account: str = Field(min_length=1)
    kinds: list[str] = Field(min_length=1)
    poll_interval: Duration = 300.0
    name: str = ""
    enabled: bool = True
    settings: dict[str, Any] = {}
    credentials: dict[str, str] = {}

    @field_validator("account", mode="before")
    @classmethod
    def _account_text(cls, value: Any) -> Any:
        # Page and user ids are long numbers; TOML would happily read them as integers.
        return str(value) if isinstance(value, int) else value

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in REGISTRY:
            raise ValueError(f"unknown platform {value!r} (known: {', '.join(sorted(REGISTRY))})")
        return value

    @field_validator("credentials")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            if not isinstance(ref, str) or not secrets.is_reference(ref):
                raise ValueError(
                    f"credential {name!r} must be a reference such as \"env:NAME\" or "
                    "\"file:/path\", never the secret itself"
                )
        return value


def _no_inline_passwords(value: list[str]) -> list[str]:
    for url in value:
        if not secrets.is_reference(url) and secrets.has_inline_password(url):
            raise ValueError(
                "this URL holds a password: put it in an environment variable or a file "
                "and write \"env:NAME\" or \"file:/path\" here"
            )
    return value


class Recipient(Strict):
    role: Literal["digital_champion", "dsl", "head", "it"]
    urls: list[str] = Field(min_length=1)
    name: str = ""

    _urls = field_validator("urls")(_no_inline_passwords)


class School(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: str | None = None
    keywords: list[str] = []
    pupil_names: Path | None = None
    # The staff-name list (CSV, like pupil_names), for followers imitating a member of staff:
    # stored only as keyed hashes under [daemon] name_key, never in clear.
    staff_names: Path | None = None
    quiet_hours: QuietHours | None = None
    accounts: list[Account] = Field(min_length=1)
    recipients: list[Recipient] = []
    # Category -> roles, overriding the defaults of the design for this school.
    routes: dict[str, list[Literal["digital_champion", "dsl", "head", "it"]]] = {}
    # The weekly digest's schedule; after loading it holds the trust-wide [digest] defaults with
    # this school's own keys on top.
    digest: DigestSchedule = DigestSchedule()
    # Term time, for leaving out holiday weeks: ranges here, or the iCalendar file the school
    # publishes (relative to the config file). Without either every week is a school week.
    term_dates: list[TermDates] = []
    term_calendar: Path | None = None

    _tz = field_validator("timezone")(lambda v: v if v is None else _timezone(v))

    _routes = field_validator("routes")(lambda v: _category_keys(v))

    @model_validator(mode="after")
    def _one_source_of_terms(self) -> School:
        if self.term_dates and self.term_calendar is not None:
            raise ValueError("give term_dates or term_calendar, not both")
        return self


class ClassifierSettings(Strict):
    thresholds: dict[str, float] = {}
    keywords: dict[str, list[str]] = {}
    allowlist: list[str] = []
    # Without its model file or its sentence encoder the classifier misses far more threats, so
    # the daemon refuses to start; true runs it on what there is, telling IT it is degraded.
    allow_degraded: bool = False

    _keywords = field_validator("keywords")(lambda v: _category_keys(v))

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in _category_keys(value).items():
            if not 0.0 < threshold < 1.0:
                raise ValueError(f"threshold for {name} must be between 0 and 1")
        return value


class RetentionSettings(Strict):
    """How long what was collected is kept: no longer than its purpose needs (UK GDPR's storage
    limitation). Evidence under hold is kept until the hold is released, whatever these say."""

    # Raw API payloads hold more personal data than alerts need.
    raw_payload_days: int = Field(30, ge=0)
    # Items nobody needed to act on: their text and author go; the rows stay, so the weekly
    # digest can still count them.
    unflagged_text_days: int = Field(30, ge=1)
    # Flagged items (and their evidence) once their incident is resolved; a flagged item in no
    # incident counts from when it was collected.
    flagged_days: int = Field(365, ge=1)
    # Deleted in batches of this many rows, committing between, so the daemon's own writes
    # never wait long behind the job on SQLite.
    batch_size: int = Field(500, ge=1, le=100_000)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "items_days" in data:
            raise ValueError("items_days was replaced by unflagged_text_days (default 30) and "
                             "flagged_days (default 365, counted from the incident's "
                             "resolution): see config.example.toml")
        return data


class WebSettings(Strict):
    """The staff console. Bound to this machine only unless `host` says otherwise: put it behind
    a reverse proxy that terminates TLS to reach it from staff phones (docs/console.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # The address staff reach the console at (the reverse proxy's https:// URL). Links in
    # alerts point here; without it they point at http://host:port.
    public_url: str | None = None
    # Behind a reverse proxy: trust its X-Forwarded-For/-Proto/-Host headers (one hop).
    behind_proxy: bool = False
    # Signs sessions and one-time links: a reference ("env:NAME", "file:/path"). Without it the
    # daemon generates a random key once and keeps it in the database.
    secret_key: str | None = None
    # How long the "acknowledge" link in an alert works, and a sign-in link sent by email.
    ack_link_ttl: Duration = 86400.0
    sign_in_link_ttl: Duration = 900.0
    # A signed-in session ends after this long without use.
    session_idle: Duration = 8 * 3600.0
    # Sign-in links are emailed through this Apprise email URL (mailto:// or mailtos://, or a
    # reference to one), its `to` replaced by the member of staff's address. Without it only
    # passwords work.
    mail_url: str | None = None
    # Failed sign-in attempts allowed per client address and per email address.
    sign_in_limit: str = "5 per minute; 20 per hour"

    @field_validator("mail_url")
    @classmethod
    def _mail_url(cls, value: str | None) -> str | None:
        if value is None or secrets.is_reference(value):
            return value
        if not value.startswith(("mailto://", "mailtos://")):
            raise ValueError("must be an Apprise email URL (mailto:// or mailtos://) or a "
                             "reference such as \"env:NAME\"")
        if secrets.has_inline_password(value):
            raise ValueError("this URL holds a password: put it in an environment variable or "
                             "a file and write \"env:NAME\" or \"file:/path\" here")
        return value

    @field_validator("sign_in_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a limit such as \"5 per minute; 20 per "
                             "hour\"") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://)")
        return value.rstrip("/") if value else value


class TrustRecipient(Strict):
    """Someone who reads the trust's roll-up over all its schools (a chief executive, the
    trust's safeguarding lead): not a school's role, so named rather than given one."""

    name: str = ""
    urls: list[str] = Field(min_length=1)

    _urls = field_validator("urls")(_no_inline_passwords)


class Trust(Strict):
    """A multi-school trust: its recipients get one weekly digest over all the schools."""

    name: str = Field(min_length=1)
    # The timezone the trust's digest goes out in; after loading, the daemon's default
    # (the schools' default) when not set here.
    timezone: str | None = None
    recipients: list[TrustRecipient] = []
    # When it goes out; after loading, the top-level [digest] with the keys set here.
    digest: DigestSchedule | None = None

    _tz = field_validator("timezone")(lambda v: v if v is None else _timezone(v))


class Settings(Strict):
    daemon: DaemonSettings = DaemonSettings()
    web: WebSettings = WebSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    retention: RetentionSettings = RetentionSettings()
    # The digest schedule every school inherits unless it sets its own.
    digest: DigestSchedule = DigestSchedule()
    schools: list[School] = Field(min_length=1)
    # A multi-school trust's roll-up; None for a single school.
    trust: Trust | None = None

    @model_validator(mode="after")
    def _unique_school_ids(self) -> Settings:
        ids = [school.id for school in self.schools]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"school ids must be unique, repeated: {', '.join(duplicates)}")
        return self


class Config:
    """Validated settings plus everything resolved from outside the file."""

    def __init__(self, settings: Settings, path: Path | None, secrets_: dict[str, secrets.Secret],
                 database_url: str) -> None:
        self.settings = settings
        self.path = path
        self.secrets = secrets_
        self.database_url = database_url

    @property
    def schools(self) -> list[School]:
        return self.settings.schools

    @property
    def daemon(self) -> DaemonSettings:
        return self.settings.daemon

    @property
    def web(self) -> WebSettings:
        return self.settings.web

    @property
    def trust(self) -> Trust | None:
        return self.settings.trust

    def secret(self, reference: str) -> str:
        """The value of a reference resolved at load time; plain text comes back unchanged."""
        if not secrets.is_reference(reference):
            return reference
        return self.secrets[reference].reveal()

    def find_school(self, school_id: str) -> School | None:
        return next((school for school in self.schools if school.id == school_id), None)

    def school(self, school_id: str) -> School:
        school = self.find_school(school_id)
        if school is None:
            raise KeyError(f"school {school_id!r} is not in the config")
        return school

    def school_name(self, school_id: str) -> str:
        """The school's name, or its id if it has since been removed from the config."""
        school = self.find_school(school_id)
        return school.name if school else school_id

    def school_timezone(self, school: School) -> str:
        return school.timezone or self.daemon.timezone


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("function-after", "function-before") and not str(part).startswith(
            ("function-", "constrained-", "lax-", "json-or-python")
        ):
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid"))
    if kind == "extra_forbidden":
        message = "unknown key (check the spelling; see config.example.toml)"
    elif kind == "missing":
        message = "required key is missing"
    message = message.removeprefix("Value error, ")
    return f"{_key_path(tuple(error.get('loc', ())))}: {message}"


def _resolve_paths(raw: dict[str, Any], base_dir: Path) -> None:
    """Replay folders given as `demo:NAME` point into the built-in demo; other relative paths in
    account settings are relative to the config file, not to wherever the daemon was started."""
    schools = raw.get("schools")
    for school in schools if isinstance(schools, list) else []:
        if not isinstance(school, dict):
            continue
        accounts = school.get("accounts")
        for account in accounts if isinstance(accounts, list) else []:
            settings = account.get("settings") if isinstance(account, dict) else None
            path = settings.get("path") if isinstance(settings, dict) else None
            if isinstance(path, str):
                if path.startswith("demo:"):
                    settings["path"] = str(DEMO_DIR / path[5:])
                elif not Path(path).expanduser().is_absolute():
                    settings["path"] = str(base_dir / path)
        for key in ("pupil_names", "staff_names", "term_calendar"):
            name = school.get(key)
            if isinstance(name, str) and not Path(name).expanduser().is_absolute():
                school[key] = str(base_dir / name)


def _inherit_digest(school: School, trust: DigestSchedule) -> School:
    """The school's digest schedule: the trust-wide one with the keys the school set itself."""
    return school.model_copy(update={"digest": _schedule(school.digest, trust)})


def _schedule(own: DigestSchedule | None, base: DigestSchedule) -> DigestSchedule:
    """`base` with the keys `own` set itself."""
    if own is None:
        return base
    return base.model_copy(update={key: getattr(own, key) for key in own.model_fields_set})


def _complete_trust(trust: Trust | None, settings: Settings) -> Trust | None:
    """The trust with its timezone and schedule filled in from the daemon's and the
    top-level ones."""
    if trust is None:
        return None
    return trust.model_copy(update={
        "timezone": trust.timezone or settings.daemon.timezone,
        "digest": _schedule(trust.digest, settings.digest)})


def _check_term_calendar(key_path: str, path: Path) -> list[str]:
    """A missing or unreadable term calendar is named now, not on the Monday the digest runs."""
    from monitor.digest.holidays import HolidayError, read_calendar

    try:
        read_calendar(path)
    except HolidayError as exc:
        return [f"{key_path}: {exc}"]
    return []


def _check_staff_names(key_path: str, path: Path) -> list[str]:
    """A staff list that cannot be read is named now; its names are never shown."""
    from monitor.staff_names import NameListError, read_staff_names

    try:
        read_staff_names(path)
    except NameListError as exc:
        return [f"{key_path}: {exc}"]
    return []


def _collect_secrets(settings: Settings, base_dir: Path) -> tuple[dict[str, secrets.Secret],
                                                                   list[str]]:
    resolved: dict[str, secrets.Secret] = {}
    problems: list[str] = []
    wanted: list[tuple[str, str]] = []
    for s, school in enumerate(settings.schools):
        for a, account in enumerate(school.accounts):
            if not account.enabled:
                continue
            needed = _required_credentials(account.platform)
            for name in needed:
                if name not in account.credentials:
                    problems.append(
                        f"schools[{s}].accounts[{a}].credentials.{name}: required for "
                        f"{account.platform}, write a reference such as \"env:NAME\""
                    )
            for name, ref in account.credentials.items():
                wanted.append((f"schools[{s}].accounts[{a}].credentials.{name}", ref))
        for r, recipient in enumerate(school.recipients):
            for u, url in enumerate(recipient.urls):
                if secrets.is_reference(url):
                    wanted.append((f"schools[{s}].recipients[{r}].urls[{u}]", url))
    for r, recipient in enumerate(settings.trust.recipients if settings.trust else []):
        for u, url in enumerate(recipient.urls):
            if secrets.is_reference(url):
                wanted.append((f"trust.recipients[{r}].urls[{u}]", url))
    key = settings.web.secret_key
    if key is not None:
        if not secrets.is_reference(key):
            problems.append("web.secret_key: write a reference such as \"env:NAME\" or "
                            "\"file:/path\", never the key itself")
        else:
            wanted.append(("web.secret_key", key))
    if settings.web.mail_url and secrets.is_reference(settings.web.mail_url):
        wanted.append(("web.mail_url", settings.web.mail_url))
    problems += _name_key(settings, wanted)
    for key_path, ref in wanted:
        if ref in resolved:
            continue
        try:
            resolved[ref] = secrets.Secret(ref, secrets.resolve(ref, base_dir=base_dir))
        except secrets.SecretError as exc:
            problems.append(f"{key_path}: missing secret: {exc}")
    return resolved, problems


def _name_key(settings: Settings, wanted: list[tuple[str, str]]) -> list[str]:
    """`[daemon] name_key`: a reference, added to `wanted`; required when a school lists its
    pupils or its staff, whose names are stored only hashed with it."""
    key = settings.daemon.name_key
    if key is None:
        listing = [(f"schools[{s}]", kind) for s, school in enumerate(settings.schools)
                   for kind in ("pupil", "staff") if getattr(school, f"{kind}_names") is not None]
        if listing:
            where, kind = listing[0]
            return [f"{where}.{kind}_names: needs [daemon] name_key, the key {kind} names are "
                    "hashed with, as a reference such as \"env:HALLMONITOR_NAME_KEY\""]
        return []
    if not secrets.is_reference(key):
        return ["daemon.name_key: write a reference such as \"env:NAME\" or \"file:/path\", "
                "never the key itself"]
    wanted.append(("daemon.name_key", key))
    return []


def _required_credentials(platform: str) -> tuple[str, ...]:
    from connectors import connector_class

    return tuple(connector_class(platform).required_credentials)


def _check_accounts(settings: Settings, resolved: dict[str, secrets.Secret]) -> list[str]:
    """Each account's kinds and settings, as its connector sees them (no network is touched)."""
    from connectors import ConnectorError, connector_class
    from monitor.followers import KIND, FollowerSettings

    problems = []
    for s, school in enumerate(settings.schools):
        for a, account in enumerate(school.accounts):
            where = f"schools[{s}].accounts[{a}]"
            cls = connector_class(account.platform)
            refused = KIND in account.kinds and cls.followers_refusal
            unknown = [kind for kind in account.kinds if kind not in cls.kinds]
            if unknown:
                # Followers asked of a platform without them: why, and what the watchlist does
                # there instead, in IT's words.
                problems.append(f"{where}.kinds: {account.platform} cannot poll "
                                f"{', '.join(unknown)} (it can: {', '.join(cls.kinds)})"
                                + (f". {cls.followers_refusal}" if refused else ""))
            if KIND in account.kinds and not refused:
                try:
                    FollowerSettings.from_mapping(account.settings)
                except ConnectorError as exc:
                    problems.append(f"{where}.settings: {exc}")
            known = set(cls.credentials) | set(cls.required_credentials)
            extra = sorted(set(account.credentials) - known) if known else []
            if extra:
                problems.append(f"{where}.credentials: unknown {', '.join(extra)} for "
                                f"{account.platform} (it uses: {', '.join(sorted(known))})")
            if not account.enabled or any(r not in resolved for r in account.credentials.values()):
                continue
            try:
                cls({"account": account.account, **account.settings},
                    {n: resolved[r].reveal() for n, r in account.credentials.items()})
            except ConnectorError as exc:
                problems.append(f"{where}.settings: {exc}")
            except (TypeError, ValueError) as exc:
                problems.append(f"{where}.settings: {type(exc).__name__}: {exc}")
    return problems


def parse(text: str, *, path: Path | None = None) -> Config:
    """Validate TOML text; `path` is where it came from (relative paths are resolved from there)."""
    base_dir = path.resolve().parent if path else Path.cwd()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"]) from None
    _resolve_paths(raw, base_dir)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None

    data_dir = settings.daemon.data_dir.expanduser()
    if not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    settings = settings.model_copy(
        update={"daemon": settings.daemon.model_copy(update={"data_dir": data_dir}),
                "schools": [_inherit_digest(school, settings.digest)
                            for school in settings.schools],
                "trust": _complete_trust(settings.trust, settings)}
    )
    problems: list[str] = []
    for s, school in enumerate(settings.schools):
        if school.pupil_names:
            try:
                read_pupil_names(school.pupil_names)
            except ValueError as exc:
                problems.append(f"schools[{s}].pupil_names: {exc}")
        if school.staff_names:
            problems += _check_staff_names(f"schools[{s}].staff_names", school.staff_names)
        if school.term_calendar is not None:
            problems += _check_term_calendar(f"schools[{s}].term_calendar", school.term_calendar)
    resolved, secret_problems = _collect_secrets(settings, base_dir)
    problems += secret_problems + _check_accounts(settings, resolved)
    if problems:
        raise ConfigError(problems)

    database_url = (os.environ.get(DATABASE_ENV) or settings.daemon.database_url
                    or f"sqlite:///{data_dir / 'hallmonitor.sqlite3'}")
    if secrets.is_reference(database_url):
        try:
            database_url = secrets.resolve(database_url, base_dir=base_dir)
        except secrets.SecretError as exc:
            raise ConfigError([f"daemon.database_url: missing secret: {exc}"]) from None
    return Config(settings, path, resolved, database_url)


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError([f"{path}: cannot read the config file ({reason})"]) from None
    return parse(text, path=path)


def demo_config(data_dir: Path) -> Config:
    """The built-in demo: three replayed accounts, alerts to the terminal."""
    config = load(DEMO_DIR / "demo.toml")
    settings = config.settings.model_copy(
        update={"daemon": config.daemon.model_copy(update={"data_dir": data_dir})}
    )
    database_url = (os.environ.get(DATABASE_ENV)
                    or f"sqlite:///{data_dir / 'hallmonitor.sqlite3'}")
    return Config(settings, config.path, config.secrets, database_url)
