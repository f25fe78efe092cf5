"""Real processes under faults: the fake platform, `hallmonitor run` daemons that can be killed
with SIGKILL at any moment, a mail server that answers as slowly as real ones do, and the checks
that say whether anything was lost, duplicated or sent twice.

Used by the tests in this folder and by benchmarks/kill_storm.py and benchmarks/soak.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import Engine, select, text

from monitor import db, models
from tests.faults.fake_platform import iter_log, layout

REPO = Path(__file__).resolve().parents[2]
# aiosmtpd logs a deprecation of its own attribute whenever a client logs in; nothing of ours.
logging.getLogger("mail.log").setLevel(logging.ERROR)
ROLES = {"dsl": "dsl", "digital_champion": "champion", "head": "head", "it": "it"}
# Words the delivery code puts in the title of a resend whose first outcome is unknown.
REPEAT_MARK = re.compile(r"possible repeat", re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


# --- mail ---------------------------------------------------------------------------------------

@dataclass
class Mail:
    at: float
    to: str
    subject: str
    message_id: str
    refs: list[str]


class MailServer:
    """aiosmtpd on 127.0.0.1 that takes `delay` seconds to accept each message, as a real mail
    server does, and asks for a login (so the Apprise URL holds a password). While `refusing`,
    it answers every message with a temporary failure."""

    def __init__(self, delay: float = 0.3, password: str | None = None) -> None:
        self.delay = delay
        self.user = "hallmonitor"
        self.password = password or "smtp-" + secrets.token_hex(10)
        self.port = free_port()
        self.received: list[Mail] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None
        self.refusing = False
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        await asyncio.sleep(self.delay)
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 Mail server temporarily unavailable"
        message = message_from_bytes(envelope.content, policy=policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        refs = re.findall(r"Ref: (\S+)", body)
        with self.lock:
            for to in envelope.rcpt_tos:
                self.received.append(Mail(time.time(), to, str(message["Subject"] or ""),
                                          str(message["Message-ID"] or ""), refs))
        return "250 OK"

    def _login(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login = getattr(auth_data, "login", b"") or b""
        password = getattr(auth_data, "password", b"") or b""
        ok = login.decode() == self.user and password.decode() == self.password
        return AuthResult(success=ok)

    def start(self) -> MailServer:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     auth_require_tls=False, authenticator=self._login)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def url(self, to: str) -> str:
        return (f"mailto://{self.user}:{self.password}@127.0.0.1:{self.port}"
                f"?from=hallmonitor@school.example&to={to}&mode=insecure")

    def mails(self) -> list[Mail]:
        with self.lock:
            return list(self.received)


# --- the fake platform --------------------------------------------------------------------------

class FakePlatform:
    """tests/faults/fake_platform.py as its own process, with one port per daemon."""

    def __init__(self, directory: Path, *, doors: int = 1, facebook: int = 1, instagram: int = 1,
                 x: int = 1, seed: int = 1, rate: float = 20.0, harmful: float = 0.2,
                 error_rate: float = 0.0, slow_rate: float = 0.0, slow_seconds: float = 1.5,
                 burst_at: Iterable[float] = (), burst_size: int = 120,
                 bursts: bool = False, duration: float = 600.0) -> None:
        self.ports = [free_port() for _ in range(doors)]
        self.log = directory / "platform-requests.jsonl"
        self.accounts = layout(facebook, instagram, x)
        command = [sys.executable, "-m", "tests.faults.fake_platform", "--log", str(self.log),
                   "--facebook", str(facebook), "--instagram", str(instagram), "--x", str(x),
                   "--seed", str(seed), "--rate", str(rate), "--harmful", str(harmful),
                   "--error-rate", str(error_rate), "--slow-rate", str(slow_rate),
                   "--slow-seconds", str(slow_seconds), "--burst-size", str(burst_size),
                   "--duration", str(duration), "--max-seconds", str(duration + 3600)]
        command += [arg for start in burst_at for arg in ("--burst-at", str(start))]
        command += ["--bursts"] if bursts else []
        command += [arg for port in self.ports for arg in ("--port", str(port))]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                                        stderr=(directory / "platform.err").open("wb"))
        line = self.process.stdout.readline().decode() if self.process.stdout else ""
        if not line.startswith("ready"):
            raise RuntimeError(f"the fake platform did not start: {line!r}")

    def url(self, door: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[door]}"

    def _control(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(self.url() + path, method=method, data=b"" if
                                         method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def published(self) -> list[dict[str, Any]]:
        return self._control("GET", "/_fake/published")["items"]

    def freeze(self) -> list[dict[str, Any]]:
        """Publish nothing more and stop injecting faults; every item published so far."""
        return self._control("POST", "/_fake/freeze")["items"]

    def set_faults(self, **faults: float) -> None:
        query = "&".join(f"{name}={value}" for name, value in faults.items())
        self._control("POST", f"/_fake/faults?{query}")

    def requests(self) -> list[dict[str, Any]]:
        return list(iter_log(str(self.log))) if self.log.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- configuration ------------------------------------------------------------------------------

@dataclass
class Secrets:
    """Every secret a run's config names, as environment variables, each value unique so a
    leak can be searched for."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, prefix: str) -> str:
        self.values[name] = f"{prefix}{secrets.token_hex(12)}"
        return f"env:{name}"


@dataclass
class Setup:
    """What a run's daemons are given: one config per door (they differ only in the platform
    port), the environment with every secret, and where each role's mail goes."""

    configs: list[Path]
    env: dict[str, str]
    secrets: dict[str, str]
    addresses: dict[str, str]  # destination as stored (env:NAME) -> mail address
    database_url: str


def write_setup(directory: Path, fake: FakePlatform, mail: MailServer, *,
                database_url: str | None = None, lease: str = "4s",
                poll_interval: str = "1s", x_user_keys: bool = False,
                facebook_max_pages: int | None = 2) -> Setup:
    """Config files for a school with every account of the fake world, polled often, leases
    short, retries quick; mail to each role through the slow mail server."""
    hidden = Secrets()
    env_refs = {
        "facebook": {"page_access_token": hidden.add("HM_FB_TOKEN", "EAAfb")},
        "instagram": {"page_access_token": hidden.add("HM_IG_TOKEN", "EAAig")},
    }
    if x_user_keys:  # reading as the school's own account: OAuth 1.0a signatures
        env_refs["x"] = {name: hidden.add(f"HM_X_{name.upper()}", f"x{name[:3]}")
                         for name in ("consumer_key", "consumer_secret", "access_token",
                                      "access_token_secret")}
    else:
        env_refs["x"] = {"bearer_token": hidden.add("HM_X_BEARER", "AAAAx")}
    addresses: dict[str, str] = {}
    for short in ROLES.values():
        address = f"{short}@school.example"
        name = f"HM_MAIL_{short.upper()}"
        hidden.values[name] = mail.url(address)
        addresses[f"env:{name}"] = address
    env = {**os.environ, **hidden.values, "PYTHONUNBUFFERED": "1"}
    data_dir = directory / "data"
    url = database_url or f"sqlite:///{data_dir / 'hallmonitor.sqlite3'}"
    env["HALLMONITOR_DATABASE_URL"] = url
    configs = []
    for door in range(len(fake.ports)):
        path = directory / f"config-{door}.toml"
        path.write_text(_config_text(fake, door, env_refs, lease, poll_interval,
                                     facebook_max_pages, data_dir), encoding="utf-8")
        configs.append(path)
    # The SMTP password is a secret too, though it lives inside a URL.
    secret_values = {**hidden.values, "SMTP_PASSWORD": mail.password}
    return Setup(configs, env, secret_values, addresses, url)


def _config_text(fake: FakePlatform, door: int, refs: dict[str, dict[str, str]], lease: str,
                 poll_interval: str, facebook_max_pages: int | None, data_dir: Path) -> str:
    text = textwrap.dedent(f"""\
        [daemon]
        data_dir = "{data_dir}"
        delivery_interval = "1s"
        retry_base = "1s"
        retry_cap = "3s"
        batch_interval = "2s"
        lease = "{lease}"

        # What is checked here is the comments' alerts; a weekly digest falling due in the middle
        # of a fault run would only be mail the checks do not expect.
        [digest]
        enabled = false

        [[schools]]
        id = "oakfield"
        name = "Oakfield Primary School"
        """)
    for account in fake.accounts:
        settings: dict[str, Any] = {"base_url": fake.url(door), "timeout": 10}
        if account.platform == "facebook" and facebook_max_pages:
            settings["max_pages"] = facebook_max_pages
        if account.platform == "x":
            settings["handle"] = account.handle
            # Small pages, so that polls page down and interrupted ones resume part-way.
            settings.update(page_size=10, max_pages=2)
        text += textwrap.dedent(f"""
            [[schools.accounts]]
            platform = "{account.platform}"
            account = "{account.account}"
            kinds = {json.dumps(list(account.kinds))}
            poll_interval = "{poll_interval}"
            settings = {_inline(settings)}
            credentials = {_inline(refs[account.platform])}
            """)
    for role, short in ROLES.items():
        text += textwrap.dedent(f"""
            [[schools.recipients]]
            role = "{role}"
            urls = ["env:HM_MAIL_{short.upper()}"]
            """)
    return text


def _inline(values: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in values.items()) + " }"


# --- daemons ------------------------------------------------------------------------------------

def upgrade_database(setup: Setup) -> None:
    """`hallmonitor db upgrade`, as an administrator runs it once before starting daemons on
    PostgreSQL (an embedded SQLite database is upgraded by the daemon itself)."""
    if setup.database_url.startswith("sqlite"):
        return
    done = subprocess.run([sys.executable, "-m", "monitor", "db", "upgrade", "-c",
                           str(setup.configs[0])], cwd=REPO, env=setup.env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"hallmonitor db upgrade failed: {done.stderr.strip()[-500:]}")


class Daemon:
    """`hallmonitor run -c CONFIG` as a real process; each life's output is kept."""

    def __init__(self, setup: Setup, door: int, directory: Path, *, verbose: bool = False,
                 name: str = "") -> None:
        self.setup = setup
        self.door = door
        self.directory = directory
        self.verbose = verbose
        self.name = name or f"daemon{door}"
        self.lives = 0
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.pids: list[int] = []

    @property
    def stderr_path(self) -> Path:
        return self.directory / f"{self.name}-{self.lives}.err"

    def start(self) -> Daemon:
        self.lives += 1
        command = [sys.executable, "-m", "monitor", "run", "-c", str(self.setup.configs[self.door])]
        command += ["-v"] if self.verbose else []
        self.process = subprocess.Popen(
            command, cwd=REPO, env=self.setup.env, stdin=subprocess.DEVNULL,
            stdout=(self.directory / f"{self.name}-{self.lives}.out").open("wb"),
            stderr=self.stderr_path.open("wb"))
        self.pids.append(self.process.pid)
        self.started_at = time.time()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Until the daemon says it is watching its sources (or has died)."""
        return wait_until(lambda: "watching" in self.stderr_path.read_text(errors="replace")
                          or not self.alive(), timeout, 0.05) and self.alive()

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, as systemd stops it; SIGKILL if it does not stop in time."""
        if self.process is None:
            return None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.process.returncode

    def output(self) -> str:
        """Everything every life of this daemon wrote, stdout and stderr."""
        parts = []
        for path in sorted(self.directory.glob(f"{self.name}-*")):
            parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def process_sample(pid: int) -> tuple[float, int]:
    """(resident memory in MB, open file descriptors) of a running process, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


# --- reading the outcome ------------------------------------------------------------------------

def engine_for(url: str) -> Engine:
    return db.make_engine(url)


@dataclass
class Outcome:
    """What a run left behind, and everything wrong with it (empty lists when all is well)."""

    published: int = 0
    stored: int = 0
    alerts: int = 0
    deliveries: int = 0
    mails: int = 0
    missing: list[str] = field(default_factory=list)
    duplicate_items: list[str] = field(default_factory=list)
    duplicate_alerts: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    not_received: list[str] = field(default_factory=list)
    received_twice: list[str] = field(default_factory=list)
    integrity: str = "ok"
    repeats_marked: int = 0

    def problems(self) -> dict[str, Any]:
        found = {name: getattr(self, name)[:10] for name in (
            "missing", "duplicate_items", "duplicate_alerts", "undelivered", "not_received",
            "received_twice") if getattr(self, name)}
        counts = {f"{name} (count)": len(getattr(self, name)) for name in found}
        if self.integrity != "ok":
            found["integrity"] = self.integrity
        return {**counts, **found}

    def summary(self) -> str:
        return (f"{self.published} published, {self.stored} stored, {self.alerts} alerts, "
                f"{self.deliveries} deliveries, {self.mails} emails received "
                f"({self.repeats_marked} marked as a possible repeat); integrity {self.integrity}")


def _platform(source: str) -> str:
    return source.split(":", 1)[0]


def missing_items(engine: Engine, published: list[dict[str, Any]]) -> list[str]:
    with engine.connect() as connection:
        stored = set(connection.execute(
            select(models.Item.platform, models.Item.external_id)).all())
    return [f"{p['source']} {p['external_id']}" for p in published
            if (_platform(p["source"]), p["external_id"]) not in stored]


def unsettled_deliveries(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(
            select(models.Delivery.id).where(models.Delivery.status != "sent")).all())


def outcome(setup: Setup, published: list[dict[str, Any]], mail: MailServer) -> Outcome:
    engine = engine_for(setup.database_url)
    try:
        result = _outcome(engine, setup, published, mail)
    finally:
        engine.dispose()
    if setup.database_url.startswith("sqlite:///"):
        result.integrity = sqlite_integrity(Path(setup.database_url[len("sqlite:///"):]))
    return result


def _outcome(engine: Engine, setup: Setup, published: list[dict[str, Any]],
             mail: MailServer) -> Outcome:
    result = Outcome(published=len(published))
    with engine.connect() as connection:
        items = connection.execute(select(models.Item.platform, models.Item.external_id)).all()
        alerts = connection.execute(select(models.Alert.id, models.Alert.kind,
                                           models.Alert.item_id, models.Alert.dedupe_key)).all()
        deliveries = connection.execute(
            select(models.Delivery.id, models.Delivery.status, models.Delivery.destination,
                   models.Alert.dedupe_key)
            .join(models.Alert, models.Alert.id == models.Delivery.alert_id)).all()
    result.stored, result.alerts, result.deliveries = len(items), len(alerts), len(deliveries)
    result.missing = missing_items(engine, published)
    result.duplicate_items = [f"{k}" for k, n in Counter(items).items() if n > 1]
    per_item = Counter(a.item_id for a in alerts if a.kind == "item" and a.item_id)
    result.duplicate_alerts = [f"item {k}: {n} alerts" for k, n in per_item.items() if n > 1]
    result.undelivered = [f"delivery {d.id} ({d.dedupe_key} to {d.destination}): {d.status}"
                          for d in deliveries if d.status != "sent"]
    mails = mail.mails()
    result.mails = len(mails)
    got: dict[tuple[str, str], list[Mail]] = defaultdict(list)
    for message in mails:
        for ref in message.refs:
            got[(message.to, ref)].append(message)
    for d in deliveries:
        address = setup.addresses.get(d.destination, d.destination)
        if d.status == "sent" and not got.get((address, d.dedupe_key)):
            result.not_received.append(f"{d.dedupe_key} to {address}")
    for (address, ref), messages in got.items():
        later = messages[1:]
        result.repeats_marked += sum(1 for m in later if REPEAT_MARK.search(m.subject))
        unmarked = [m for m in later if not REPEAT_MARK.search(m.subject)]
        if unmarked:
            result.received_twice.append(
                f"{ref} to {address}: {len(messages)} times, {len(unmarked)} not marked as a "
                f"possible repeat ({messages[0].subject[:60]!r})")
    return result


def sqlite_integrity(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()


def settle(fake: FakePlatform, setup: Setup, daemons: list[Daemon], timeout: float = 60.0
           ) -> list[dict[str, Any]]:
    """Stop publishing, let healthy daemons catch up, stop them with SIGTERM; returns what the
    fake published. Gives up after `timeout` (the checks then say what is missing)."""
    published = fake.freeze()
    if not any(daemon.alive() for daemon in daemons):
        daemons[0].start()
    engine = engine_for(setup.database_url)
    try:
        wait_until(lambda: _caught_up(engine, published), timeout, 0.5)
        # A batched alert or a retry may still fall due within a few seconds.
        time.sleep(1.0)
        wait_until(lambda: _caught_up(engine, published), 10.0, 0.5)
    finally:
        engine.dispose()
    for daemon in daemons:
        daemon.stop()
    return published


def _caught_up(engine: Engine, published: list[dict[str, Any]]) -> bool:
    try:
        return not missing_items(engine, published) and unsettled_deliveries(engine) == 0
    except Exception:  # the schema may not exist yet, or the database may be locked
        return False


# --- polls seen from the platform ---------------------------------------------------------------

@dataclass
class PollSpan:
    source: str
    door: int
    peer: int
    start: float
    end: float
    requests: int


def poll_spans(entries: list[dict[str, Any]], gap: float = 0.75) -> list[PollSpan]:
    """Each poll as the platform saw it: one client connection's run of requests for a source,
    split where it went quiet for longer than `gap` seconds (a new poll)."""
    spans: list[PollSpan] = []
    grouped: dict[tuple[str, int, int], list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        if entry.get("source"):
            grouped[(entry["source"], entry["door"], entry["peer"])].append(entry)
    for (source, door, peer), group in grouped.items():
        group.sort(key=lambda e: e["t0"])
        current: PollSpan | None = None
        for entry in group:
            if current is None or entry["t0"] - current.end > gap:
                current = PollSpan(source, door, peer, entry["t0"], entry["t1"], 0)
                spans.append(current)
            current.end = max(current.end, entry["t1"])
            current.requests += 1
    return spans


def concurrent_polls(entries: list[dict[str, Any]]) -> list[str]:
    """Pairs of polls of one source that overlapped in time, by different daemons (doors) or
    by two connections of one daemon."""
    by_source: dict[str, list[PollSpan]] = defaultdict(list)
    for span in poll_spans(entries):
        by_source[span.source].append(span)
    found = []
    for source, spans in by_source.items():
        spans.sort(key=lambda s: s.start)
        for i, first in enumerate(spans):
            for second in spans[i + 1:]:
                if second.start >= first.end:
                    break
                found.append(f"{source}: door {first.door} {first.start:.2f}-{first.end:.2f} "
                             f"and door {second.door} {second.start:.2f}-{second.end:.2f}")
    return found


def secrets_found(secret_values: dict[str, str], texts: dict[str, str]) -> list[str]:
    """Where any secret (or its URL-encoded form) appears among `texts` (name -> text)."""
    from urllib.parse import quote

    found = []
    for name, value in secret_values.items():
        forms = {value, quote(value, safe=""), quote(value)}
        for where, body in texts.items():
            if any(form in body for form in forms):
                found.append(f"{name} in {where}")
    return found


def database_text(url: str) -> dict[str, str]:
    """Every table's rows as text, one entry per table, to search for secrets."""
    engine = engine_for(url)
    tables: dict[str, str] = {}
    try:
        with engine.connect() as connection:
            for table in models.Base.metadata.sorted_tables:
                rows = connection.execute(text(f'SELECT * FROM "{table.name}"')).all()
                tables[f"table {table.name}"] = "\n".join(repr(tuple(row)) for row in rows)
    finally:
        engine.dispose()
    return tables


# --- the kill -9 storm --------------------------------------------------------------------------

@dataclass
class StormResult:
    outcome: Outcome
    kills: int
    in_startup: int
    seconds: float
    lives: int


def kill_storm(directory: Path, *, kills: int, daemons: int = 1,
               database_url: str | None = None, seed: int = 1,
               mail_delay: float = 0.25, log: Callable[[str], None] = lambda _: None
               ) -> StormResult:
    """`daemons` daemons on one database against the fake platform (a few 5xx answers, a
    pile-on of 120 comments on one post), killed with SIGKILL `kills` times at random moments
    (a quarter of them during start-up) and restarted at once; then the fake stops publishing,
    the daemons catch up, and the outcome is read."""
    rng = random.Random(seed)
    fake = FakePlatform(directory, doors=daemons, seed=seed, rate=24, harmful=0.12,
                        error_rate=0.03, burst_at=(6.0,), burst_size=120)
    mail = MailServer(mail_delay).start()
    in_startup = 0
    started = time.monotonic()
    try:
        setup = write_setup(directory, fake, mail, database_url=database_url)
        upgrade_database(setup)
        running = [Daemon(setup, door, directory).start() for door in range(daemons)]
        for number in range(kills):
            victim = running[number % daemons]
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.0, 1.5))
                in_startup += 1
            else:
                if not victim.wait_ready():
                    raise RuntimeError(f"{victim.name} did not start or died by itself: "
                                       f"{victim.output()[-2000:]}")
                time.sleep(rng.uniform(0.1, 2.2) / daemons)
            victim.kill9()
            victim.start()
            log(f"kill {number + 1}/{kills}: {victim.name} at "
                f"{time.monotonic() - started:.1f}s")
        published = settle(fake, setup, running, timeout=90.0)
        log(f"caught up and stopped at {time.monotonic() - started:.1f}s")
        result = outcome(setup, published, mail)
    finally:
        fake.stop()
        mail.stop()
    return StormResult(result, kills, in_startup, time.monotonic() - started,
                       sum(daemon.lives for daemon in running))
