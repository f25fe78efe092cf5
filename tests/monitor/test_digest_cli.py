"""`hallmonitor digest preview` and `digest send` on the fixed week of tests/digest_builder.py,
and the demo's digest of its own recorded week."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from monitor import models
from monitor.cli import main
from monitor.digest import demo, send
from tests import digest_builder as week
from tests.digest_builder import SCHOOL

pytestmark = pytest.mark.usefixtures("database")

LABEL = "2026-W47"


@pytest.fixture
def built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return week.build(tmp_path)


def run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def config_args(built) -> list[str]:
    return ["--config", str(built.config.path)]


def test_preview_writes_the_html_email_with_its_chart_inlined(built, tmp_path, capsys):
    out = tmp_path / "digest.html"
    code, _, err = run(["digest", "preview", *config_args(built), "--week", LABEL,
                        "--out", str(out)], capsys)
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert "Weekly digest - Oakfield Primary School - 16 to 22 November 2026" in page
    assert "data:image/png;base64," in page and "cid:" not in page
    assert f"Wrote {out}" in err
    # Nothing was sent or queued by a preview.
    with built.sessions() as session:
        assert session.scalar(select(models.Alert.id).where(
            models.Alert.kind == send.DIGEST_KIND)) is None


def test_preview_text_prints_the_plain_text_part_of_each_kind(built, capsys):
    code, out, _ = run(["digest", "preview", *config_args(built), "--week", LABEL, "--text"],
                       capsys)
    assert code == 0
    assert out.startswith("Weekly digest - Oakfield Primary School")
    assert "INCIDENTS THAT NEEDED ACTION" in out and "QUESTIONS LEFT UNANSWERED" in out
    code, out, _ = run(["digest", "preview", *config_args(built), "--week", LABEL, "--kind",
                        "dsl", "--text"], capsys)
    assert code == 0
    assert out.startswith("Weekly safeguarding summary - Oakfield Primary School")
    assert "QUESTIONS LEFT UNANSWERED" not in out


@pytest.mark.parametrize(("args", "expected"), [
    (["--week", "2026-W99", "--text"], "--week: 2026-W99 is not a week"),
    (["--week", "last tuesday", "--text"], "--week: "),
    (["--week", LABEL], "say where the preview goes: --out FILE.html, or --text"),
    (["--kind", "trust", "--text"], "the config has no [trust] table"),
    (["--school", "nowhere", "--text"], "no school 'nowhere' in the config (it has: oakfield)"),
])
def test_preview_refuses_what_it_cannot_do_in_one_line(built, capsys, args, expected):
    code, _, err = run(["digest", "preview", *config_args(built), *args], capsys)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_send_mails_the_week_once_and_again_only_when_asked(built, capsys, smtp_inbox):
    path = built.config.path
    path.write_text(path.read_text(encoding="utf-8").replace(
        'role = "head"\nurls = ["console://"]', f'role = "head"\nurls = ["{smtp_inbox.url()}"]'),
        encoding="utf-8")
    code, out, _ = run(["digest", "send", *config_args(built), "--week", LABEL], capsys)
    assert code == 0
    assert f"the head's digest for {SCHOOL}, week {LABEL}" in out and ": sent" in out
    assert len(smtp_inbox.messages) == 1
    received = smtp_inbox.messages[0]
    assert received["Subject"].startswith("Weekly digest - Oakfield Primary School")
    assert "needed action" in smtp_inbox.text(received)

    code, _, err = run(["digest", "send", *config_args(built), "--week", LABEL], capsys)
    assert code == 1
    assert "was sent already: 'hallmonitor digest send --again' sends it once more" in err
    assert len(smtp_inbox.messages) == 1

    code, out, _ = run(["digest", "send", *config_args(built), "--week", LABEL, "--again"],
                       capsys)
    assert code == 0 and ": sent" in out
    assert len(smtp_inbox.messages) == 2


def test_the_demo_queues_its_own_weeks_digests_once_its_replay_has_settled(built):
    told: list[str] = []
    stop = threading.Event()
    demo.queue_when_settled(built.config, built.sessions, stop, tell=told.append,
                            settled_after=0.05, check_every=0.02)
    with built.sessions() as session:
        keys = set(session.scalars(select(models.Alert.dedupe_key)
                                   .where(models.Alert.kind == send.DIGEST_KIND)))
    assert keys == {send.dedupe_key("head", SCHOOL, LABEL), send.dedupe_key("dsl", SCHOOL, LABEL)}
    assert any(f"hallmonitor digest preview --demo --kind head --week {LABEL}" in line
               for line in told)
    # A restarted demo finds them queued and queues nothing more.
    with built.sessions.begin() as session:
        again = demo.queue_demo_digests(session, built.config, week.NOW)
    assert [result.status for result in again] == ["exists", "exists"]
