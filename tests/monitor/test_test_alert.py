"""`hallmonitor test-alert`: a marked test reaches each destination, each result is printed, and
a destination that fails makes the command fail."""

import pytest

from monitor.cli import main

CONFIG = """
[[schools]]
id = "oakfield"
name = "Oakfield Primary"

[[schools.accounts]]
platform = "replay"
account = "1"
kinds = ["comments"]
settings = {{ path = "fb" }}

[[schools.recipients]]
role = "dsl"
urls = ["env:DSL_URL"]

[[schools.recipients]]
role = "it"
urls = ["{it_url}"]
"""


def run(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(args)
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def write(tmp_path, it_url):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(it_url=it_url))
    return str(path)


def test_every_destination_gets_a_marked_test_and_its_result_is_printed(
        tmp_path, capsys, monkeypatch, smtp_inbox, webhook):
    monkeypatch.setenv("DSL_URL", smtp_inbox.url("dsl@school.example"))
    config = write(tmp_path, webhook.url())
    main(["test-alert", "--config", config])
    out = capsys.readouterr().out
    [email] = smtp_inbox.messages
    assert email["Subject"] == "[TEST] Hall Monitor test alert - Oakfield Primary - dsl"
    assert "nothing needs doing" in smtp_inbox.text(email)
    [posted] = webhook.received
    assert posted["title"].startswith("[TEST]") and "- it" in posted["title"]
    assert "dsl" in out and "env:DSL_URL" in out and out.count("sent") == 2
    assert smtp_inbox.url("dsl@school.example") not in out  # shown by its reference only


def test_one_role_only(tmp_path, capsys, monkeypatch, smtp_inbox, webhook):
    monkeypatch.setenv("DSL_URL", smtp_inbox.url())
    main(["test-alert", "--config", write(tmp_path, webhook.url()), "--role", "it"])
    assert smtp_inbox.messages == [] and len(webhook.received) == 1


def test_a_destination_that_fails_is_named_and_the_command_fails(tmp_path, capsys, monkeypatch,
                                                                 smtp_inbox):
    monkeypatch.setenv("DSL_URL", smtp_inbox.url())
    code, out, err = run(["test-alert", "--config", write(tmp_path, "json://127.0.0.1:9/")],
                         capsys)
    assert code == 1
    assert "FAILED" in out and "1 of 2 test alerts could not be sent" in err
    assert len(smtp_inbox.messages) == 1


def test_an_unknown_school_or_an_empty_choice_is_one_line(tmp_path, capsys, monkeypatch,
                                                          smtp_inbox, webhook):
    monkeypatch.setenv("DSL_URL", smtp_inbox.url())
    config = write(tmp_path, webhook.url())
    code, _, err = run(["test-alert", "--config", config, "--school", "elmwood"], capsys)
    assert code == 1 and "no school 'elmwood'" in err
    code, _, err = run(["test-alert", "--config", config, "--role", "head"], capsys)
    assert code == 1 and "no destination matches role 'head'" in err
