import stat
import subprocess
import sys

import pytest

from monitor.cli import main
from monitor.config import ConfigError, load, parse
from tests.builders import write_config

GOOD = """
[[schools]]
id = "oakfield"
name = "Oakfield Primary School"

[[schools.accounts]]
platform = "replay"
account = "1"
kinds = ["comments"]
poll_interval = "2m"
settings = { path = "fb" }

[[schools.recipients]]
role = "dsl"
urls = ["env:DSL_URL"]
"""


def run_cli(args, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_a_good_config_prints_what_would_run_with_secrets_masked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DSL_URL", "mailto://user:hunter2@mail.example.com")
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    main(["check-config", str(path)])
    out = capsys.readouterr().out
    assert "Oakfield Primary School" in out
    assert "replay 1 comments every 2m" in out
    assert "dsl: env:DSL_URL" in out
    assert "hunter2" not in out
    assert "warning: no 'digital_champion' recipient" in out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # an unknown key is an error, named with its path
        (("poll_interval = \"2m\"", "poll_intervall = \"2m\""),
         "schools[0].accounts[0].poll_intervall: unknown key"),
        (("[[schools]]", "[deamon]\nx = 1\n[[schools]]"), "deamon: unknown key"),
        # a bad interval
        (("poll_interval = \"2m\"", "poll_interval = \"every tuesday\""),
         "schools[0].accounts[0].poll_interval: 'every tuesday' is not a duration"),
        (("poll_interval = \"2m\"", "poll_interval = -5"),
         "schools[0].accounts[0].poll_interval: must be more than zero"),
        # a secret written inline instead of referenced
        (("settings = { path = \"fb\" }", "settings = { path = \"fb\" }\n"
          "credentials = { token = \"EAAB123secret\" }"),
         "schools[0].accounts[0].credentials: credential 'token' must be a reference"),
        (("platform = \"replay\"", "platform = \"myspace\""),
         "schools[0].accounts[0].platform: unknown platform 'myspace'"),
        (("role = \"dsl\"", "role = \"caretaker\""), "schools[0].recipients[0].role:"),
        (("id = \"oakfield\"", "id = \"Oak Field!\""), "schools[0].id:"),
        (("[[schools]]", "[[schools]]\ntimezone = \"Mars/Olympus\""),
         "schools[0].timezone: unknown timezone 'Mars/Olympus'"),
        (("name = \"Oakfield Primary School\"", "name = "), "not valid TOML"),
    ],
)
def test_config_mistakes_exit_2_naming_the_key(tmp_path, capsys, monkeypatch, change, expected):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    path = tmp_path / "config.toml"
    path.write_text(GOOD.replace(*change, 1))
    code, out, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err + out
    assert "EAAB123secret" not in err + out


def test_a_missing_secret_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DSL_URL", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    code, _, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert ("schools[0].recipients[0].urls[0]: missing secret: environment variable DSL_URL "
            "is not set") in err


def test_a_secret_file_is_read_and_a_missing_one_named(tmp_path, monkeypatch):
    secret = tmp_path / "dsl_url"
    secret.write_text("json://localhost/hook\n")
    config = parse(GOOD.replace("env:DSL_URL", f"file:{secret}"), path=tmp_path / "c.toml")
    assert config.secret(f"file:{secret}") == "json://localhost/hook"
    with pytest.raises(ConfigError, match="secret file .*nope does not exist"):
        parse(GOOD.replace("env:DSL_URL", f"file:{tmp_path / 'nope'}"), path=tmp_path / "c.toml")


def test_a_password_in_a_plain_url_is_refused(tmp_path):
    text = GOOD.replace("env:DSL_URL", "mailto://head:hunter2@mail.example.com")
    with pytest.raises(ConfigError) as info:
        parse(text, path=tmp_path / "c.toml")
    assert "holds a password" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p, "config file not found"),
        (lambda p: (p.mkdir(), p)[1], "is a directory"),
        (lambda p: (p.write_bytes(b"\xff\xfe\x00bad"), p)[1], "cannot read the config file"),
    ],
)
def test_an_unreadable_config_exits_2(tmp_path, capsys, make, expected):
    path = make(tmp_path / "config.toml")
    code, _, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1


def test_a_file_without_read_permission_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_text", refuse)
    with pytest.raises(ConfigError, match="cannot read the config file \\(Permission denied\\)"):
        load(path)


def test_the_database_url_comes_from_the_environment_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HALLMONITOR_DATABASE_URL", "sqlite:///" + str(tmp_path / "other.db"))
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    config = parse(GOOD, path=tmp_path / "c.toml")
    assert config.database_url.endswith("other.db")


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("kinds", "kindz"))
    done = subprocess.run([sys.executable, "-m", "monitor", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "schools[0].accounts[0].kindz: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
    assert stat.S_ISREG(path.stat().st_mode)


def test_the_example_config_is_valid_as_shipped(capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    main(["check-config", str(example)])
    assert "Config OK" in capsys.readouterr().out


def test_the_example_digest_schedule_and_term_dates_are_valid_when_uncommented(tmp_path):
    from datetime import date, time
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    for line in ("# digest = {", "# term_dates = [", "#     { start", "# ]"):
        assert line in text
        text = text.replace(line, line[2:])
    school = parse(text, path=tmp_path / "config.toml").schools[0]
    assert (school.digest.day, school.digest.time) == ("monday", time(7, 30))
    assert [(t.start, t.end) for t in school.term_dates] == [
        (date(2026, 9, 3), date(2026, 10, 23)), (date(2026, 11, 2), date(2026, 12, 18))]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("kinds = [\"comments\"]", "kinds = [\"followers\"]"),
         "schools[0].accounts[0].kinds: replay cannot poll followers (it can: comments"),
        (("path = \"fb\" }", "path = \"fb\", as_platform = \"myspace\" }"),
         "schools[0].accounts[0].settings: as_platform must be one of facebook, instagram, x"),
    ],
)
def test_account_settings_are_checked_by_their_connector(tmp_path, monkeypatch, change, expected):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    with pytest.raises(ConfigError) as info:
        parse(GOOD.replace(*change, 1), path=tmp_path / "c.toml")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("[classifier]\nthresholds = { treat = 0.3 }", "classifier.thresholds: unknown categories "
         "treat"),
        ("[classifier]\nthresholds = { threat = 1.5 }", "threshold for threat must be between"),
        ("[classifier]\nkeywords = { rude = [\"x\"] }", "classifier.keywords: unknown categories"),
    ],
)
def test_classifier_settings_name_real_categories(tmp_path, monkeypatch, section, expected):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    with pytest.raises(ConfigError) as info:
        parse(section + "\n" + GOOD, path=tmp_path / "c.toml")
    assert expected in str(info.value)


def test_a_pupil_name_list_that_cannot_be_read_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    (tmp_path / "pupils.csv").write_bytes(b"\x00\x01\x02binary")
    text = GOOD.replace('name = "Oakfield Primary School"',
                        'name = "Oakfield Primary School"\npupil_names = "pupils.csv"')
    with pytest.raises(ConfigError) as info:
        parse(text, path=tmp_path / "c.toml")
    assert str(info.value).startswith("schools[0].pupil_names: ")
    with pytest.raises(ConfigError, match="schools\\[0\\].pupil_names: .*nope.csv"):
        parse(text.replace("pupils.csv", "nope.csv"), path=tmp_path / "c.toml")


def test_pupil_names_reach_the_classifier(tmp_path, monkeypatch):
    from monitor.classify import ClassifierCache

    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    (tmp_path / "pupils.csv").write_text("name\nLily Evans\nTom Baker\n")
    (tmp_path / "name.key").write_text("a-test-key-0123456789")
    text = '[daemon]\nname_key = "file:name.key"\n' + GOOD.replace(
        'name = "Oakfield Primary School"',
        'name = "Oakfield Primary School"\npupil_names = "pupils.csv"')
    config = parse(text, path=tmp_path / "c.toml")
    classifier = ClassifierCache(config).for_school(config.schools[0])
    [verdict] = classifier.predict(["well done lily evans in 3B, what a star"])
    assert "personal_data" in verdict.categories


def test_an_old_attempt_limit_still_loads_and_is_called_out(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost:9/")
    path = tmp_path / "config.toml"
    path.write_text("[daemon]\nmax_delivery_attempts = 6\n" + GOOD)
    main(["check-config", str(path)])
    out = capsys.readouterr().out
    assert "Config OK" in out
    assert "max_delivery_attempts is no longer used" in out


def test_the_example_config_says_how_long_deliveries_and_leases_last(capsys):
    from pathlib import Path

    example = load(Path(__file__).resolve().parents[2] / "config.example.toml")
    assert example.daemon.delivery_give_up_after == 24 * 3600
    assert example.daemon.lease <= 60
    assert example.daemon.failure_notice_after == 2 * 3600
    main(["check-config", str(example.path)])
    assert "no longer used" not in capsys.readouterr().out


@pytest.mark.parametrize("url", ["notaservice://somewhere", "mailto://", "tgram://abc"])
def test_a_recipient_url_apprise_cannot_use_is_refused_naming_its_key(tmp_path, capsys,
                                                                      monkeypatch, url):
    monkeypatch.setenv("DSL_URL", url)
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    code, _, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert "schools[0].recipients[0].urls[0]: Apprise cannot send to env:DSL_URL" in err
    assert url not in err  # the URL behind a reference may hold a key


def test_a_school_without_an_it_recipient_is_warned_about(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost:9/")
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    main(["check-config", str(path)])
    assert "warning: no 'it' recipient" in capsys.readouterr().out
    path.write_text(GOOD + '\n[[schools.recipients]]\nrole = "it"\nurls = ["json://localhost:9/"]\n')
    main(["check-config", str(path)])
    assert "no 'it' recipient" not in capsys.readouterr().out


def test_the_consoles_secrets_are_references_resolved_when_the_config_loads(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    monkeypatch.delenv("HM_MAIL", raising=False)
    web = '[web]\nenabled = true\nmail_url = "env:HM_MAIL"\nsecret_key = "env:HM_KEY"\n'
    monkeypatch.setenv("HM_KEY", "k" * 40)
    with pytest.raises(ConfigError) as refused:
        parse(web + GOOD, path=tmp_path / "c.toml")
    assert refused.value.problems == [
        "web.mail_url: missing secret: environment variable HM_MAIL is not set"]
    monkeypatch.setenv("HM_MAIL", "mailtos://user:pw@mail.example")
    config = parse(web + GOOD, path=tmp_path / "c.toml")
    assert config.secret("env:HM_MAIL") == "mailtos://user:pw@mail.example"
    with pytest.raises(ConfigError, match="web.secret_key: write a reference"):
        parse(web.replace('"env:HM_KEY"', '"plain-text-key"') + GOOD, path=tmp_path / "c.toml")


TRUST = """
[trust]
name = "Oak Learning Trust"

[[trust.recipients]]
name = "Chief executive"
urls = ["env:TRUST_MAIL"]
"""


def test_a_trust_loads_with_its_recipients_secrets_and_the_schools_defaults(tmp_path,
                                                                             monkeypatch):
    from datetime import time

    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    monkeypatch.setenv("TRUST_MAIL", "mailtos://ceo:pw@mail.oaktrust.example")
    config = parse('[digest]\ntime = "06:45"\n' + TRUST + GOOD, path=tmp_path / "c.toml")
    trust = config.trust
    assert trust.name == "Oak Learning Trust"
    assert [(r.name, r.urls) for r in trust.recipients] == [("Chief executive",
                                                             ["env:TRUST_MAIL"])]
    # Resolved at load like a school's recipients, so sending never meets a missing secret.
    assert config.secret("env:TRUST_MAIL") == "mailtos://ceo:pw@mail.oaktrust.example"
    # Unset here: the schools' default timezone and the top-level [digest].
    assert trust.timezone == "Europe/London"
    assert (trust.digest.day, trust.digest.time) == ("monday", time(6, 45))
    own = TRUST.replace('name = "Oak Learning Trust"', 'name = "Oak Learning Trust"\n'
                        'timezone = "Europe/Dublin"\ndigest = { day = "tuesday" }')
    trust = parse('[digest]\ntime = "06:45"\n' + own + GOOD, path=tmp_path / "c.toml").trust
    assert trust.timezone == "Europe/Dublin"
    assert (trust.digest.day, trust.digest.time) == ("tuesday", time(6, 45))
    assert parse(GOOD, path=tmp_path / "c.toml").trust is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('name = "Oak Learning Trust"\n', ""), "trust.name: required key is missing"),
        (('urls = ["env:TRUST_MAIL"]', 'urls = ["mailtos://ceo:hunter2@mail.oaktrust.example"]'),
         "trust.recipients[0].urls: this URL holds a password"),
        (('[trust]\n', '[trust]\ncolour = "green"\n'), "trust.colour: unknown key"),
        (('name = "Chief executive"', 'role = "head"'), "trust.recipients[0].role: unknown key"),
        (('[trust]\n', '[trust]\ntimezone = "Mars/Olympus"\n'),
         "trust.timezone: unknown timezone 'Mars/Olympus'"),
    ],
)
def test_trust_mistakes_exit_2_with_one_line_naming_the_key(tmp_path, capsys, monkeypatch,
                                                           change, expected):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    monkeypatch.setenv("TRUST_MAIL", "json://localhost/trust")
    path = tmp_path / "config.toml"
    path.write_text(TRUST.replace(*change, 1) + GOOD)
    code, out, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert expected in err
    assert "Traceback" not in err + out
    assert "hunter2" not in err + out


def test_a_trust_recipients_missing_secret_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    monkeypatch.delenv("TRUST_MAIL", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(TRUST + GOOD)
    code, _, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert ("trust.recipients[0].urls[0]: missing secret: environment variable TRUST_MAIL is "
            "not set") in err


def test_the_example_trust_is_valid_when_uncommented(tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("TRUST_MAIL", "json://localhost/trust")
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    start = text.index("# [trust]\n")
    end = text.index("\n\n", start)
    block = text[start:end]
    # The settings, not the prose between them.
    text = text.replace(block, "\n".join(
        line[2:] if line[2:].startswith("[") or " = " in line else line
        for line in block.splitlines()))
    trust = parse(text, path=tmp_path / "config.toml").trust
    assert trust.name == "Oak Learning Trust"
    assert [r.name for r in trust.recipients] == ["Chief executive", "Trust safeguarding lead"]


def test_check_config_refuses_a_trust_url_apprise_cannot_use_and_describes_a_good_one(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost:9/")
    monkeypatch.setenv("TRUST_MAIL", "notaservice://ceo")
    path = tmp_path / "config.toml"
    path.write_text(TRUST + GOOD)
    code, _, err = run_cli(["check-config", str(path)], capsys)
    assert code == 2
    assert "trust.recipients[0].urls[0]: Apprise cannot send to env:TRUST_MAIL" in err
    monkeypatch.setenv("TRUST_MAIL", "mailtos://ceo:pw@mail.oaktrust.example")
    main(["check-config", str(path)])
    out = capsys.readouterr().out
    assert "Trust: Oak Learning Trust (Europe/London); weekly roll-up monday 07:30" in out
    assert "Chief executive: env:TRUST_MAIL" in out and "pw" not in out


def test_check_config_warns_when_nobody_receives_the_trusts_roll_up(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost:9/")
    path = tmp_path / "config.toml"
    path.write_text('[trust]\nname = "Oak Learning Trust"\n' + GOOD)
    main(["check-config", str(path)])
    out = capsys.readouterr().out
    assert "[trust] has no recipients: nobody will receive the weekly roll-up" in out


def test_check_config_states_the_retention_periods_in_force(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    path = tmp_path / "config.toml"
    path.write_text(GOOD + "\n[retention]\nunflagged_text_days = 14\nflagged_days = 730\n")
    main(["check-config", str(path)])
    out = capsys.readouterr().out
    assert ("Retention: raw payloads 30 days, unflagged comments' text 14 days, flagged "
            "comments 730 days after their incident is resolved") in out


def test_the_old_items_days_setting_is_refused_naming_what_replaced_it(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("DSL_URL", "json://localhost/hook")
    path = tmp_path / "config.toml"
    path.write_text(GOOD + "\n[retention]\nitems_days = 730\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["check-config", str(path)])
    assert exit_info.value.code == 2
    assert "items_days was replaced by unflagged_text_days" in capsys.readouterr().err
