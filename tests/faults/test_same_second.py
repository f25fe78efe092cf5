"""Graph gives a post's `updated_time` in whole seconds. A comment that lands in the same second
as a poll read that post's comments leaves `updated_time` as the poll saw it: it must still be
read, even if nothing more is ever said on that post."""

from __future__ import annotations

from tests.faults.harness import (
    Daemon,
    FakePlatform,
    MailServer,
    outcome,
    settle,
    wait_until,
    write_setup,
)


def test_a_comment_in_the_same_second_as_the_last_read_of_its_post_is_still_read(tmp_path):
    # No other traffic: after the last pair, nothing ever changes the post again.
    fake = FakePlatform(tmp_path, facebook=1, instagram=0, x=0, seed=51, rate=0)
    fake.set_faults(same_second=2)
    mail = MailServer(0.1).start()
    try:
        setup = write_setup(tmp_path, fake, mail)
        daemon = Daemon(setup, 0, tmp_path).start()
        assert daemon.wait_ready(), daemon.output()[-3000:]
        live = lambda: [p for p in fake.published() if not p["history"]]  # noqa: E731
        assert wait_until(lambda: len(live()) >= 4, 30.0, 0.2), live()
        published = settle(fake, setup, [daemon], timeout=8.0)
        result = outcome(setup, published, mail)
    finally:
        fake.stop()
        mail.stop()
    print(result.summary())
    assert result.missing == []
