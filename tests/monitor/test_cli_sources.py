"""`hallmonitor sources`: what a paid source costs, why a source is paused or failing, and
`--check`, against local servers standing in for X."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor import models
from monitor.cli import main, open_db
from monitor.cli.common import load_config
from tests.builders import write_accounts_config
from tests.http_server import json_answer

X_USERS = ("1456789012345678901", "1456789012345678902")


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run a command as the shell would: its exit code, stdout and stderr."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def x_config(tmp_path, base_url: str, *, users: tuple[str, ...] = X_USERS[:1],
             kinds: str = '["mentions"]') -> str:
    accounts = "".join(f"""
[[schools.accounts]]
platform = "x"
account = "{user}"
kinds = {kinds}
settings = {{ base_url = "{base_url}", handle = "Oakfield{n}", keywords = ["Oakfield"] }}
credentials = {{ bearer_token = "env:X_BEARER" }}
""" for n, user in enumerate(users))
    path = write_accounts_config(tmp_path, accounts, roles=("dsl",))
    main(["db", "upgrade", "--config", str(path)])  # a PostgreSQL database is upgraded by hand
    return str(path)


@pytest.fixture
def x_source(tmp_path, monkeypatch, capsys, database):
    """A config with one X mentions source, synced into the database; yields (config path,
    sessions, source id)."""
    monkeypatch.setenv("X_BEARER", "AAAA-bearer-token-for-tests")
    path = x_config(tmp_path, "http://127.0.0.1:9")
    cli(["sources", "--config", path], capsys)
    sessions = open_db(load_config(path, False))
    with sessions() as session:
        source_id = session.scalar(select(models.Source.id))
    return path, sessions, source_id


def add_polls(sessions, source_id: int, polls: list[tuple[float, bool, int, int]]) -> None:
    """Poll runs `hours` ago reading `posts` and `users` new resources, as the pipeline records
    them: (hours ago, backfill, posts, users)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for n, (hours, backfill, posts, users) in enumerate(polls):
            at = now - timedelta(hours=hours)
            session.add(models.PollRun(source_id=source_id, started_at=at,
                                       finished_at=at + timedelta(seconds=2), backfill=backfill,
                                       reads=posts + users))
            for kind, count in (("post", posts), ("user", users)):
                for number in range(count):
                    session.add(models.PaidRead(
                        platform="x", resource=f"{kind}:{n}-{number}", source_id=source_id,
                        day=at.strftime("%Y-%m-%d"), backfill=backfill))


def row_of(out: str, key_part: str) -> str:
    return next(line for line in out.splitlines() if key_part in line)


def test_a_first_poll_backfill_is_not_taken_for_monthly_traffic(x_source, capsys):
    path, sessions, source_id = x_source
    # The report: the first poll read 20 posts and 6 users ($0.16), then an hour of quiet polls;
    # extrapolating the backfill as hourly traffic showed $64.80 a month.
    add_polls(sessions, source_id, [(1.0, True, 20, 6), (0.5, False, 0, 0), (0.0, False, 0, 0)])
    code, out, _ = cli(["sources", "--config", path], capsys)
    assert code == 0
    row = row_of(out, "/x/")
    assert "not enough data yet" in row and "0.16" in row
    assert "64.80" not in out


def test_a_day_of_steady_traffic_gives_a_monthly_figure(x_source, capsys):
    path, sessions, source_id = x_source
    # 24 hourly polls each reading 2 new posts and 1 new user: $0.48 a day, $14.40 a month.
    add_polls(sessions, source_id, [(24.0, True, 100, 40)]
              + [(hours, False, 2, 1) for hours in range(23, -1, -1)])
    _, out, _ = cli(["sources", "--config", path], capsys)
    row = row_of(out, "/x/")
    assert "14.40" in row.split() and "0.90" in row.split()  # backfill: 100 x 0.005 + 40 x 0.010


def test_paused_and_failing_sources_say_why_and_since_when(tmp_path, monkeypatch, capsys,
                                                           database):
    monkeypatch.setenv("X_BEARER", "AAAA-bearer-token-for-tests")
    path = x_config(tmp_path, "http://127.0.0.1:9", kinds='["mentions", "search"]')
    cli(["sources", "--config", path], capsys)
    sessions = open_db(load_config(path, False))
    reason = ("X refused the credentials: the token is expired, revoked or mistyped. To resume: "
              "put a valid credential where the config points, then restart the daemon.")
    since = datetime.now(UTC) - timedelta(hours=3, minutes=5)
    with sessions.begin() as session:
        mentions, search = session.scalars(select(models.Source).order_by(models.Source.id))
        mentions.paused_reason, mentions.paused_at = reason, since
        search.failing_since, search.failure_count = since, 7
        search.last_error = "could not reach X while reading search: ConnectionError"
    code, out, _ = cli(["sources", "--config", path], capsys)
    assert code == 0
    assert "PAUSED" in row_of(out, "/mentions") and "FAILING" in row_of(out, "/search")
    # The whole reason, with how to resume, not the table's first 60 characters.
    assert reason in " ".join(out.split())
    failing = row_of(out, "failing since")
    assert "/search" in failing and "(3h 5m)" in failing and "could not reach X" in failing


def test_resume_polls_a_paused_source_again(x_source, capsys):
    path, sessions, source_id = x_source
    with sessions.begin() as session:
        source = session.get(models.Source, source_id)
        source.paused_reason, source.paused_at = "X refused the credentials", datetime.now(UTC)
    code, out, _ = cli(["sources", "--resume", str(source_id), "--config", path], capsys)
    assert code == 0 and f"source {source_id} resumed" in out
    assert "PAUSED" not in out and "Paused" not in out


def test_resuming_an_unknown_source_is_one_clear_line(x_source, capsys):
    path, _, _ = x_source
    code, _, err = cli(["sources", "--resume", "999", "--config", path], capsys)
    assert code == 1 and "no source with id 999" in err and "Traceback" not in err


# --- --check ------------------------------------------------------------------------------------

def x_user_answer(request):
    user = request.path.rsplit("/", 1)[-1]
    return json_answer({"data": {"id": user, "name": "Oakfield", "username": f"oak{user[-1]}"}})


def test_check_probes_each_account_once_and_names_the_sources_it_covers(
        local_server, tmp_path, monkeypatch, capsys, database):
    api = local_server()
    for user in X_USERS:
        api.route("GET", f"/2/users/{user}", x_user_answer)
    monkeypatch.setenv("X_BEARER", "AAAA-bearer-token-for-tests")
    path = x_config(tmp_path, api.url, users=X_USERS, kinds='["mentions", "replies", "search"]')
    code, out, _ = cli(["sources", "--check", "--config", path], capsys)
    assert code == 0, out
    # Six sources, two accounts: two checks, one request each.
    assert [len(api.asked("GET", f"/2/users/{user}")) for user in X_USERS] == [1, 1]
    assert out.count("[OK]") == 2
    covers = [line for line in out.splitlines() if "covers sources" in line]
    assert len(covers) == 2 and all(line.count("oakfield/x/") == 3 for line in covers)


def test_check_exits_1_when_every_source_fails(local_server, tmp_path, monkeypatch, capsys,
                                               database):
    api = local_server()
    for user in X_USERS:
        api.route("GET", f"/2/users/{user}", json_answer(
            {"title": "Unauthorized", "type": "about:blank", "status": 401,
             "detail": "Unauthorized"}, status=401))
    monkeypatch.setenv("X_BEARER", "AAAA-expired-bearer-token")
    path = x_config(tmp_path, api.url, users=X_USERS)
    code, out, err = cli(["sources", "--check", "--config", path], capsys)
    assert code == 1
    assert out.count("[PROBLEM]") == 2 and "2 of 2 checks failed" in err


def test_check_with_the_network_down_does_not_blame_the_token(tmp_path, monkeypatch, capsys,
                                                              database):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("X_BEARER", "AAAA-bearer-token-for-tests")
    path = x_config(tmp_path, f"http://127.0.0.1:{port}")
    code, out, _ = cli(["sources", "--check", "--config", path], capsys)
    assert code == 1
    check = out[out.index("[PROBLEM]"):]
    assert "could not reach" in check
    assert "token" not in check.lower().replace("the credentials were not checked", "")


def test_it_notices_nobody_received_are_shown(x_source, capsys):
    from monitor import alerts

    if not hasattr(alerts, "undelivered_it_notices"):
        pytest.skip("this version of monitor.alerts has no undelivered_it_notices")
    path, sessions, source_id = x_source
    now = datetime.now(UTC)
    with sessions.begin() as session:
        notice = models.Alert(dedupe_key=f"source-paused:{source_id}", school_id="oakfield",
                              kind="source_paused", severity="high", categories=[],
                              title="X monitoring paused: the token was refused", body="...",
                              created_at=now - timedelta(hours=1))
        session.add(notice)
        session.flush()
        session.add(models.Delivery(alert_id=notice.id, destination="env:IT_MAIL", roles=["it"],
                                    status="dead", attempts=4, first_attempt_at=notice.created_at,
                                    last_error="SMTP 550 no such mailbox"))
    code, out, _ = cli(["sources", "--config", path], capsys)
    assert code == 0
    section = out[out.index("IT notices that could not be delivered (1)"):]
    assert "X monitoring paused: the token was refused" in section
    assert "env:IT_MAIL dead: SMTP 550 no such mailbox" in section


def test_after_real_polls_the_backfill_is_costed_and_no_month_is_guessed(
        local_server, tmp_path, monkeypatch, capsys, database):
    api = local_server()
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    posts = [{"id": f"21225880812227297{n:02d}", "text": f"@Oakfield0 question {n}",
              "author_id": str(40 + n % 2), "created_at": at,
              "conversation_id": f"21225880812227297{n:02d}"} for n in range(4)]
    api.route("GET", f"/2/users/{X_USERS[0]}/mentions", json_answer({
        "data": posts,
        "includes": {"users": [{"id": "40", "name": "A", "username": "a"},
                               {"id": "41", "name": "B", "username": "b"}]},
        "meta": {"newest_id": posts[-1]["id"], "oldest_id": posts[0]["id"],
                 "result_count": 4}}))
    monkeypatch.setenv("X_BEARER", "AAAA-bearer-token-for-tests")
    path = x_config(tmp_path, api.url)
    for _ in range(2):
        code, out, err = cli(["poll", "--once", "--config", path], capsys)
        assert code == 0, out + err
    _, out, _ = cli(["sources", "--config", path], capsys)
    row = row_of(out, "/x/")
    # The first poll read 4 posts and 2 users: $0.04, once. Minutes of polling say nothing
    # about a month.
    assert "not enough data yet" in row and "0.04" in row.split()


def test_check_of_facebook_with_the_network_down_does_not_blame_the_token(
        tmp_path, monkeypatch, capsys, database):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token-for-tests")
    path = tmp_path / "config.toml"
    path.write_text(f"""
[daemon]
data_dir = "data"
[[schools]]
id = "oakfield"
name = "Oakfield Primary School"
[[schools.accounts]]
platform = "facebook"
account = "104857392011"
kinds = ["comments", "visitor_posts"]
settings = {{ base_url = "http://127.0.0.1:{port}" }}
credentials = {{ page_access_token = "env:FB_TOKEN" }}
[[schools.recipients]]
role = "dsl"
urls = ["console://"]
""")
    main(["db", "upgrade", "--config", str(path)])
    code, out, _ = cli(["sources", "--check", "--config", str(path)], capsys)
    assert code == 1
    check = out[out.index("[PROBLEM]"):]
    assert "could not reach" in check and "covers sources" in check
    assert "token" not in check.lower().replace("the credentials were not checked", "")
