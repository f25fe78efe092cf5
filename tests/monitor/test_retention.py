from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from monitor import models
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

pytestmark = pytest.mark.usefixtures("database")


def test_raw_payloads_and_old_items_go_when_the_retention_policy_says(tmp_path):
    write_replay(tmp_path / "fb", ["you are a useless idiot", "lovely assembly",
                                   "what time is pick up?"])
    config = load(write_config(tmp_path, daemon="", extra_school=""))
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    daemon.poll_once()
    now = datetime.now(UTC)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).where(models.Item.raw.is_not(None))) == 3
        # One item fetched 40 days ago (raw payload due to go), one created three years ago.
        session.execute(update(models.Item).where(models.Item.id == 2)
                        .values(fetched_at=now - timedelta(days=40)))
        session.execute(update(models.Item).where(models.Item.id == 1)
                        .values(created_at=now - timedelta(days=3 * 365),
                                fetched_at=now - timedelta(days=3 * 365)))
    daemon.apply_retention()
    with sessions() as session:
        remaining = {item.id: item for item in session.scalars(select(models.Item))}
        assert set(remaining) == {2, 3}
        assert remaining[2].raw is None and remaining[3].raw is not None
        assert session.scalar(select(func.count()).select_from(models.Verdict)) == 2
        # The alert about the deleted item stays in the record, without the item.
        alert = session.scalars(select(models.Alert).where(models.Alert.dedupe_key == "item:1"))
        assert alert.one().item_id is None
