import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Author, ConfigError, Item, PayloadError, SourceSpec
from connectors.replay import ReplayConnector
from tests.connectors.contract import ConnectorContract

NOW = datetime(2026, 11, 17, 7, 10, tzinfo=UTC)


def graph_comments_page(*comments: tuple[str, str, str]) -> dict:
    return {
        "data": [
            {"id": cid, "message": text, "created_time": when,
             "from": {"id": "55", "name": "A Parent"}}
            for cid, text, when in comments
        ],
        "paging": {"cursors": {"before": "b", "after": "a"}},
    }


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "001.json").write_text(json.dumps(graph_comments_page(
        ("10_1", "Lovely nativity", "2026-11-16T09:00:00+0000"),
        ("10_2", "what time is pick up?", "2026-11-16T09:05:00+0000"),
    )))
    (tmp_path / "002.json").write_text(json.dumps(graph_comments_page(
        ("10_3", "snow day again?!", "2026-11-17T07:00:00+0000"),
    )))
    return tmp_path


class TestReplayContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _folder(self, folder):
        self.folder = folder

    def build(self):
        connector = ReplayConnector({"path": str(self.folder), "as_platform": "facebook"}, {})
        return connector, SourceSpec(1, "replay", "comments", "10")


def test_it_releases_pages_over_time(folder):
    connector = ReplayConnector(
        {"path": str(folder), "as_platform": "facebook", "release_interval": 60}, {})
    source = SourceSpec(1, "replay", "comments", "10")
    start = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    connector.now = lambda tz=None: start
    first = list(connector.fetch(source, None))
    assert [i.external_id for p in first for i in p.items] == ["10_1", "10_2"]

    connector.now = lambda tz=None: start + timedelta(seconds=30)
    assert [i for p in connector.fetch(source, first[-1].progress) for i in p.items] == []

    connector.now = lambda tz=None: start + timedelta(seconds=61)
    later = list(connector.fetch(source, first[-1].progress))
    assert [i.external_id for p in later for i in p.items] == ["10_3"]


def test_a_missing_folder_is_a_config_error(tmp_path):
    connector = ReplayConnector({"path": str(tmp_path / "nope")}, {})
    with pytest.raises(ConfigError, match="not found"):
        list(connector.fetch(SourceSpec(1, "replay", "comments", "x"), None))


def test_malformed_json_is_a_payload_error(tmp_path):
    (tmp_path / "001.json").write_text("{not json")
    connector = ReplayConnector({"path": str(tmp_path)}, {})
    with pytest.raises(PayloadError, match="001.json"):
        list(connector.fetch(SourceSpec(1, "replay", "comments", "x"), None))


def test_a_comment_without_an_id_is_a_payload_error(tmp_path):
    comment = {"message": "hi", "from": {"id": "1"}}
    (tmp_path / "001.json").write_text(json.dumps({"data": [comment]}))
    connector = ReplayConnector({"path": str(tmp_path)}, {})
    with pytest.raises(PayloadError, match="no id"):
        list(connector.fetch(SourceSpec(1, "replay", "comments", "x"), None))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://graph.facebook.com", True),
        ("https://api.x.com/", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:9000/", True),
        ("http://[::1]:9000", True),
        ("http://graph.facebook.com", False),
        ("http://10.0.0.5", False),
        ("ftp://127.0.0.1", False),
        ("graph.facebook.com", False),
    ],
)
def test_base_urls_must_be_https_unless_loopback(url, allowed):
    from connectors.base import checked_base_url

    if allowed:
        assert not checked_base_url(url).endswith("/")
    else:
        with pytest.raises(ConfigError, match="refusing"):
            checked_base_url(url)


@pytest.mark.parametrize("action", ["hide", "unhide", "delete", "block", "mute"])
def test_the_demo_never_pretends_to_act(folder, action):
    connector = ReplayConnector({"path": str(folder), "as_platform": "facebook"}, {})
    items = [i for p in connector.fetch(SourceSpec(1, "replay", "comments", "10"), None)
             for i in p.items]
    # Whatever the recording stands for: a comment, an X reply, an Instagram tag.
    items += [Item("21", "reply", "x", NOW, Author("42", "dad"), parent_id="20"),
              Item("18", "tag", "x", NOW, Author("17"))]
    for item in items:
        result = connector.act(action, item)
        assert result.ok is False
        assert result.message == ("the demo replays recorded comments: there is nothing on a "
                                  "platform to act on")
        assert ReplayConnector.offered_actions(item) == ()
    assert ReplayConnector.actions == ()
