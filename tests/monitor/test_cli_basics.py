"""The command line's own behaviour: its version, one-line database errors, and list limits."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest

from monitor import models
from monitor.cli import main, open_db
from monitor.cli.common import load_config
from tests.builders import write_config


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_version_prints_the_installed_version():
    done = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"hallmonitor {version('hallmonitor')}"


def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path, monkeypatch,
                                                                    capsys):
    port = closed_port()
    monkeypatch.setenv("HALLMONITOR_DATABASE_URL",
                       f"postgresql://monitor:s3cret-db-pass@127.0.0.1:{port}/hallmonitor")
    path = write_config(tmp_path)
    code, out, err = cli(["sources", "--config", str(path)], capsys)
    assert code == 1 and out == ""
    assert err == (f"hallmonitor: cannot connect to the database at "
                   f"postgresql://monitor@127.0.0.1:{port}/hallmonitor: connection refused\n")


def test_an_unopenable_sqlite_file_is_one_line(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "is-a-folder.sqlite3"
    folder.mkdir()
    monkeypatch.setenv("HALLMONITOR_DATABASE_URL", f"sqlite:///{folder}")
    code, _, err = cli(["items", "list", "--config", str(write_config(tmp_path))], capsys)
    assert code == 1
    assert err == (f"hallmonitor: cannot open the database at sqlite:///{folder}: "
                   "unable to open database file\n")


@pytest.mark.parametrize("command", [["items", "list"], ["incidents", "list"]])
@pytest.mark.parametrize("limit", ["-5", "0"])
def test_a_limit_below_one_is_refused(tmp_path, capsys, command, limit):
    code, out, err = cli([*command, "--limit", limit, "--config", str(write_config(tmp_path))],
                         capsys)
    assert code == 2 and out == ""
    assert "Invalid value for '--limit'" in err and ">=1" in err
    assert "Traceback" not in err


@pytest.fixture
def incidents_db(tmp_path, capsys, database):
    """Incidents where the newest are the least serious, and sessions on their database."""
    path = str(write_config(tmp_path))
    main(["db", "upgrade", "--config", path])
    main(["sources", "--config", path])  # writes the school
    capsys.readouterr()
    sessions = open_db(load_config(path, False))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for number, (severity, status, hours_ago) in enumerate([
                ("urgent", "open", 30), ("high", "acknowledged", 20), ("low", "open", 2),
                ("normal", "open", 1), ("urgent", "resolved", 0.5)], start=1):
            at = now - timedelta(hours=hours_ago)
            session.add(models.Incident(id=number, school_id="oakfield", key=f"k{number}",
                                        status=status, severity=severity, categories=["abusive"],
                                        item_count=1, opened_at=at, last_item_at=at))
    return path


def listed_ids(out: str) -> list[int]:
    return [int(line.split()[0]) for line in out.splitlines()[2:]]


def test_incidents_are_sorted_before_the_limit_is_taken(incidents_db, capsys):
    _, out, _ = cli(["incidents", "list", "--limit", "2", "--config", incidents_db], capsys)
    # The two most serious, though three others are newer.
    assert listed_ids(out) == [1, 2]
    _, out, _ = cli(["incidents", "list", "--config", incidents_db], capsys)
    assert listed_ids(out) == [1, 2, 4, 3]
    _, out, _ = cli(["incidents", "list", "--all", "--limit", "4", "--config", incidents_db],
                    capsys)
    assert listed_ids(out) == [1, 2, 4, 3]  # resolved ones come last, whatever their severity
