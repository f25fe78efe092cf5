"""Issue-level journeys through the real connectors, from the command line, against local
servers standing in for Facebook's Graph API and X's API v2."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.graph import DEFAULT_API_VERSION
from monitor.cli import main
from tests.builders import write_accounts_config
from tests.http_server import json_answer

PAGE = "104857392011"
POST = f"{PAGE}_822001"
X_USER = "1456789012345678901"
THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
V = f"/{DEFAULT_API_VERSION}"


def graph_time(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")


def x_time(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def write_config(tmp_path, accounts: str) -> str:
    return str(write_accounts_config(tmp_path, accounts, roles=("dsl", "digital_champion")))


def run(args, capsys) -> str:
    main(args)
    return capsys.readouterr().out


@pytest.fixture
def facebook(local_server, tmp_path, monkeypatch):
    graph = local_server()
    graph.route("GET", f"{V}/{PAGE}/feed", json_answer({"data": [{
        "id": POST, "created_time": graph_time(120), "updated_time": graph_time(5),
        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/822001"}]}))
    graph.route("GET", f"{V}/{POST}/comments", json_answer({"data": [
        {"id": "822001_1", "message": "Lovely assembly this morning", "created_time":
         graph_time(30), "from": {"id": "555", "name": "Amy Cole"},
         "permalink_url": f"https://www.facebook.com/{PAGE}/posts/822001/?comment_id=1"},
        {"id": "822001_2", "message": THREAT, "created_time": graph_time(10),
         "from": {"id": "556", "name": "D Foley"},
         "permalink_url": f"https://www.facebook.com/{PAGE}/posts/822001/?comment_id=2"},
    ]}))
    graph.route("POST", f"{V}/822001_2", json_answer({"success": True}))
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token")
    return graph, write_config(tmp_path, f"""
[[schools.accounts]]
platform = "facebook"
account = "{PAGE}"
kinds = ["comments"]
settings = {{ base_url = "{graph.url}" }}
credentials = {{ page_access_token = "env:FB_TOKEN" }}
""")


def test_a_facebook_threat_is_alerted_and_hidden_from_the_command_line(facebook, capsys):
    graph, config = facebook
    out = run(["poll", "--once", "--config", config], capsys)
    assert "2 new items, 1 alerts" in out
    assert "[URGENT] Threat" in out and "on Facebook" in out and THREAT in out
    [alert] = [json.loads(line) for line in
               run(["alerts", "list", "--format", "json", "--config", config], capsys).splitlines()]
    item_id = alert["item"]["id"]
    out = run(["action", "hide", str(item_id), "--by", "champion", "--config", config], capsys)
    assert out.startswith("done")
    [hide] = graph.asked("POST", f"{V}/822001_2")
    assert (hide.form() | hide.query).get("is_hidden") == "true"
    # The token went to the API, never into what we print.
    assert all("EAAB-page-token" not in line for line in out.splitlines())


def test_polling_facebook_again_reads_nothing_twice(facebook, capsys):
    _, config = facebook
    run(["poll", "--once", "--config", config], capsys)
    out = run(["poll", "--once", "--config", config], capsys)
    assert "0 new items, 0 alerts" in out


def test_x_mentions_are_polled_and_their_read_cost_estimated(local_server, tmp_path,
                                                               monkeypatch, capsys):
    api = local_server()
    api.route("GET", f"/2/users/{X_USER}/mentions", json_answer({
        "data": [{"id": "2122588081222729730", "text": f"@OakfieldPrimary {THREAT}",
                  "author_id": "42", "created_at": x_time(5),
                  "conversation_id": "2122588081222729730"}],
        "includes": {"users": [{"id": "42", "name": "Angry Dad", "username": "angrydad"}]},
        "meta": {"newest_id": "2122588081222729730", "oldest_id": "2122588081222729730",
                 "result_count": 1}}))
    monkeypatch.setenv("X_BEARER", "AAAA-bearer")
    config = write_config(tmp_path, f"""
[[schools.accounts]]
platform = "x"
account = "{X_USER}"
kinds = ["mentions"]
settings = {{ base_url = "{api.url}", handle = "OakfieldPrimary" }}
credentials = {{ bearer_token = "env:X_BEARER" }}
""")
    out = run(["poll", "--once", "--config", config], capsys)
    assert "1 new items, 1 alerts" in out
    assert "https://x.com/angrydad/status/2122588081222729730" in out
    [request] = api.asked("GET", f"/2/users/{X_USER}/mentions")
    assert request.headers["Authorization"] == "Bearer AAAA-bearer"
    table = run(["sources", "--config", config], capsys)
    row = next(line for line in table.splitlines() if "/x/" in line)
    # One poll is all backfill: what it cost is shown, and no month is extrapolated from it.
    assert "not enough data yet" in row
    backfill = float(row.split()[-1])
    assert backfill == pytest.approx(0.005 + 0.010, abs=0.005)  # one post, its author (to cents)


