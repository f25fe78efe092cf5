"""One refused credential pauses every source that uses it, tells IT once naming them all, and a
restart with a changed credential resumes them (the same credential keeps them paused)."""

import json
import textwrap

import pytest
from sqlalchemy import select

from connectors import AuthError
from connectors.replay import ReplayConnector
from monitor import models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import PAGE_ID, write_replay

pytestmark = pytest.mark.usefixtures("database")

EXPIRED = "EAAB-expired-token"


def account(platform_account: str, kinds: list[str], token_ref: str) -> str:
    return textwrap.dedent(f"""\
        [[schools.accounts]]
        platform = "replay"
        account = "{platform_account}"
        kinds = {json.dumps(kinds)}
        poll_interval = "1s"
        settings = {{ path = "fb", as_platform = "facebook" }}
        credentials = {{ access_token = "{token_ref}" }}
        """)


def school(school_id: str, name: str, accounts: str) -> str:
    return textwrap.dedent(f"""\
        [[schools]]
        id = "{school_id}"
        name = "{name}"
        """) + accounts + textwrap.dedent("""\
        [[schools.recipients]]
        role = "it"
        urls = ["console://"]
        """)


@pytest.fixture
def trust(tmp_path, monkeypatch):
    """Two schools: Oakfield's page (4 kinds) and Elmwood's page (2 kinds) share one token;
    Elmwood's other page has a token of its own."""
    write_replay(tmp_path / "fb", ["is the trip still on?"])
    monkeypatch.setenv("TRUST_TOKEN", EXPIRED)
    monkeypatch.setenv("ELMWOOD_OWN_TOKEN", "EAAB-elmwood-own")
    path = tmp_path / "config.toml"
    path.write_text(
        '[daemon]\ndata_dir = "data"\n\n'
        + school("oakfield", "Oakfield Primary School",
                 account(PAGE_ID, ["comments", "mentions", "replies", "search"],
                         "env:TRUST_TOKEN"))
        + school("elmwood", "Elmwood Academy",
                 account("200", ["comments", "mentions"], "env:TRUST_TOKEN")
                 + account("300", ["comments"], "env:ELMWOOD_OWN_TOKEN")),
        encoding="utf-8")

    real_fetch = ReplayConnector.fetch

    def fetch(self, source, cursor):
        # The platform's side of it: this token has expired, any other works.
        if self.secrets.get("access_token") == EXPIRED:
            raise AuthError("Error validating access token: Session has expired (code 190)")
        yield from real_fetch(self, source, cursor)

    monkeypatch.setattr(ReplayConnector, "fetch", fetch)
    return path


def sources_by_key(sessions) -> dict[str, models.Source]:
    with sessions() as session:
        return {s.key: s for s in session.scalars(select(models.Source))}


def notices(sessions) -> list[models.Alert]:
    with sessions() as session:
        return list(session.scalars(select(models.Alert).where(
            models.Alert.kind == "source_paused")))


def shared(key: str) -> bool:
    return not key.startswith("elmwood/replay/300/")


def test_one_expired_token_pauses_its_six_sources_and_tells_it_once(trust):
    config = load(trust)
    _, sessions = open_database(config)
    results = Daemon(config, sessions).poll_once()
    rows = sources_by_key(sessions)
    assert len(rows) == 7
    paused = {key for key, row in rows.items() if row.paused_reason}
    assert paused == {key for key in rows if shared(key)}
    assert len(paused) == 6
    # Polled after the first refusal, the other five were not asked again: they were paused.
    assert sum(1 for r in results if r.error and "AuthError" in r.error) == 1
    assert sum(1 for r in results if (r.not_claimed or "").startswith("paused: ")) == 5
    own = rows["elmwood/replay/300/comments"]
    assert own.paused_reason is None and own.last_success_at is not None

    [notice] = notices(sessions)
    for key in paused:
        assert key in notice.body
    assert "elmwood/replay/300" not in notice.body
    assert "restart the daemon" in notice.body and "hallmonitor sources --resume" in notice.body
    assert EXPIRED not in notice.body and EXPIRED not in notice.title
    fingerprints = {rows[key].paused_fingerprint for key in paused}
    assert len(fingerprints) == 1 and None not in fingerprints
    assert EXPIRED not in next(iter(fingerprints))

    # Polling again neither asks the platform nor tells IT again.
    Daemon(config, sessions).poll_once()
    assert len(notices(sessions)) == 1


def test_a_restart_with_the_same_token_keeps_them_paused(trust):
    config = load(trust)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    Daemon(load(trust), sessions).sync_sources()
    assert sum(1 for row in sources_by_key(sessions).values() if row.paused_reason) == 6


def test_a_restart_with_a_new_token_resumes_all_six(trust, monkeypatch, caplog):
    config = load(trust)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    monkeypatch.setenv("TRUST_TOKEN", "EAAB-renewed-token")
    caplog.set_level("INFO", logger="monitor.sources")
    restarted = Daemon(load(trust), sessions)
    restarted.sync_sources()
    rows = sources_by_key(sessions)
    assert all(row.paused_reason is None and row.paused_fingerprint is None
               for row in rows.values())
    assert sum("resumed: its credentials changed" in r.getMessage() for r in caplog.records) == 6
    results = restarted.poll_once()
    assert all(r.claimed and r.error is None for r in results)


def test_poll_once_says_a_paused_source_is_paused_and_fails(trust, capsys):
    open_database(load(trust))  # `hallmonitor db upgrade`, needed once on PostgreSQL
    with pytest.raises(SystemExit) as first:
        main(["poll", "--once", "--config", str(trust)])
    assert first.value.code != 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as second:
        main(["poll", "--once", "--config", str(trust)])
    out = capsys.readouterr().out
    assert second.value.code != 0
    assert out.count("paused: AuthError: Error validating access token") == 6
    assert "busy" not in out
    assert out.count("— ok") == 1
