"""No configured secret (platform tokens, the X keys, the SMTP password inside the Apprise URL)
appears in what a daemon prints, in its debug log, or in any database column, after a run with
failing platform requests, a refusing mail server and a kill -9."""

from __future__ import annotations

import time

from tests.conftest import wait_for
from tests.faults.harness import (
    Daemon,
    FakePlatform,
    MailServer,
    database_text,
    outcome,
    secrets_found,
    settle,
    write_setup,
)


def test_no_configured_secret_reaches_output_debug_logs_or_the_database(tmp_path):
    fake = FakePlatform(tmp_path, facebook=1, instagram=1, x=1, seed=31, rate=30,
                        harmful=0.3, error_rate=0.15)
    mail = MailServer(0.2).start()
    try:
        # X read with the four user-context keys, so every request is signed with OAuth 1.0a.
        setup = write_setup(tmp_path, fake, mail, x_user_keys=True)
        daemon = Daemon(setup, 0, tmp_path, verbose=True).start()
        mail.refusing = True  # the first sends fail, and say why
        assert daemon.wait_ready(), daemon.output()[-3000:]
        # Until a send has really been refused: on a busy machine the first alert can take
        # longer than a fixed pause, and then the refusal this test reads for never happens.
        wait_for(lambda: mail.refused > 0, timeout=30.0)
        time.sleep(1)
        mail.refusing = False
        daemon.kill9()
        daemon.start()
        assert daemon.wait_ready(), daemon.output()[-3000:]
        time.sleep(3)
        published = settle(fake, setup, [daemon], timeout=40.0)
        result = outcome(setup, published, mail)
    finally:
        fake.stop()
        mail.stop()
    texts = {path.name: path.read_text(errors="replace")
             for path in sorted(tmp_path.glob(f"{daemon.name}-*"))}
    texts.update(database_text(setup.database_url))
    lines = sum(text.count("\n") for text in texts.values())
    print(f"{result.summary()}; {mail.refused} sends refused; {lines} lines searched")
    # The faults really happened, and were logged.
    assert mail.refused > 0 and "failed" in texts[f"{daemon.name}-1.err"]
    assert secrets_found(setup.secrets, texts) == []
    assert result.problems() == {}
