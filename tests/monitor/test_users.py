"""Staff accounts: adding, listing, disabling, resetting, signing in; and the `users` commands."""

import io
import logging

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from monitor import links, models, users
from monitor.cli import main
from monitor.cli.users import ROLE_CHOICES
from monitor.config import load
from monitor.daemon import open_database
from tests.builders import write_config

pytestmark = pytest.mark.usefixtures("database")

PASSWORD = "correct horse battery staple"
SECOND_SCHOOL = """
[[schools]]
id = "elmwood"
name = "Elmwood Academy"
[[schools.accounts]]
platform = "replay"
account = "elmwood-page"
kinds = ["comments"]
settings = { path = "fb", as_platform = "facebook" }
"""
CONSOLE = """
[web]
enabled = true
public_url = "https://console.oakfield.example"
"""


def config_file(tmp_path, *, schools: int = 1, console: bool = False):
    path = write_config(tmp_path)
    text = path.read_text()
    if schools == 2:
        text += SECOND_SCHOOL
    if console:
        text += CONSOLE
    path.write_text(text)
    return path


@pytest.fixture
def setup(tmp_path):
    """A config with two schools and the console configured, and sessions on its database."""
    path = config_file(tmp_path, schools=2, console=True)
    config = load(path)
    _, sessions = open_database(config)
    return path, config, sessions


def add(sessions, config, **fields) -> int:
    with sessions.begin() as session:
        user = users.add(session, config, **{"school_id": "oakfield", "role": "dsl", **fields})
        session.flush()
        return user.id


def run(args, capsys, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class CountingHasher(PasswordHasher):
    """The real hasher, counting verifications: each sign-in attempt must cost one."""

    verified = 0

    def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
        CountingHasher.verified += 1
        return super().verify(hash, password)


# --- the functions the console and the command line share --------------------------------------

def test_an_account_stores_an_argon2_hash_and_never_the_password(setup):
    _, config, sessions = setup
    add(sessions, config, email="  J.Patel@Oakfield.sch.uk ", name="Jo Patel", password=PASSWORD)
    with sessions() as session:
        user = session.scalars(select(models.StaffUser)).one()
        assert user.email == "j.patel@oakfield.sch.uk"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert (user.role, user.school_id, user.name, user.disabled) == (
            "dsl", "oakfield", "Jo Patel", False)
        assert users.find_by_email(session, "J.PATEL@oakfield.sch.uk").id == user.id


def test_the_right_password_signs_in_whatever_the_case_of_the_email(setup):
    _, config, sessions = setup
    user_id = add(sessions, config, email="dsl@oakfield.sch.uk", password=PASSWORD)
    with sessions.begin() as session:
        user = users.authenticate(session, "DSL@Oakfield.sch.uk", PASSWORD)
        assert user is not None and user.id == user_id
        assert user.last_sign_in_at is not None


def test_wrong_passwords_unknown_emails_and_accounts_without_a_password_are_refused(
        setup, monkeypatch):
    _, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk", password=PASSWORD)
    add(sessions, config, email="head@oakfield.sch.uk", role="head")
    hasher = CountingHasher()
    monkeypatch.setattr(users, "_hasher", hasher)
    with sessions() as session:
        for email, password in [("dsl@oakfield.sch.uk", PASSWORD + "!"),
                                ("nobody@oakfield.sch.uk", PASSWORD),
                                ("not an email", PASSWORD),
                                ("head@oakfield.sch.uk", "")]:
            CountingHasher.verified = 0
            assert users.authenticate(session, email, password) is None
            # As long as a real check: what the answer took does not tell who has an account.
            assert CountingHasher.verified == 1, email


def test_a_disabled_account_cannot_sign_in_until_enabled(setup, monkeypatch):
    _, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk", password=PASSWORD)
    with sessions.begin() as session:
        before = users.get(session, "dsl@oakfield.sch.uk").session_version
        user = users.disable(session, "dsl@oakfield.sch.uk")
        assert user.disabled and user.session_version == before + 1
    monkeypatch.setattr(users, "_hasher", CountingHasher())
    CountingHasher.verified = 0
    with sessions() as session:
        assert users.authenticate(session, "dsl@oakfield.sch.uk", PASSWORD) is None
        assert CountingHasher.verified == 1
    with sessions.begin() as session:
        users.enable(session, "dsl@oakfield.sch.uk")
    with sessions() as session:
        assert users.authenticate(session, "dsl@oakfield.sch.uk", PASSWORD) is not None


def test_a_reset_clears_the_password_and_ends_every_session(setup):
    _, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk", password=PASSWORD)
    with sessions.begin() as session:
        user = users.reset(session, "dsl@oakfield.sch.uk")
        assert user.password_hash is None and user.session_version == 1
    with sessions.begin() as session:
        assert users.authenticate(session, "dsl@oakfield.sch.uk", PASSWORD) is None
        users.set_password(session, "dsl@oakfield.sch.uk", "three random words again")
    with sessions() as session:
        user = users.authenticate(session, "dsl@oakfield.sch.uk", "three random words again")
        assert user is not None and user.session_version == 2


def test_a_hash_made_with_older_parameters_is_replaced_at_sign_in(setup):
    _, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk")
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with sessions.begin() as session:
        users.get(session, "dsl@oakfield.sch.uk").password_hash = old
    with sessions.begin() as session:
        assert users.authenticate(session, "dsl@oakfield.sch.uk", PASSWORD) is not None
    with sessions() as session:
        stored = users.get(session, "dsl@oakfield.sch.uk").password_hash
    assert stored != old and not PasswordHasher().check_needs_rehash(stored)
    assert PasswordHasher().verify(stored, PASSWORD)


@pytest.mark.parametrize(("fields", "words"), [
    ({"school_id": "nowhere"}, "unknown school 'nowhere': the config has oakfield, elmwood"),
    ({"role": "caretaker"}, "unknown role 'caretaker': choose one of digital_champion, dsl"),
    ({"role": "admin"}, "an admin is trust-wide and has no school"),
    ({"school_id": None}, "a dsl belongs to a school: name one of oakfield, elmwood"),
    ({"email": "jo.patel"}, "not an email address: 'jo.patel'"),
    ({"password": "short"}, "at least 12 characters"),
])
def test_an_account_that_cannot_be_is_refused_in_one_line(setup, fields, words):
    _, config, sessions = setup
    with pytest.raises(users.UserError) as info, sessions.begin() as session:
        users.add(session, config, **{"email": "jo@oakfield.sch.uk", "role": "dsl",
                                      "school_id": "oakfield", **fields})
    assert words in str(info.value) and "\n" not in str(info.value)
    assert "short" not in str(info.value) or "password" not in fields
    with sessions() as session:
        assert users.list_users(session) == []


def test_an_email_already_used_is_refused_whatever_its_case(setup):
    _, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk")
    with pytest.raises(users.UserError, match="already exists"), sessions.begin() as session:
        users.add(session, config, email="DSL@oakfield.sch.uk", role="head",
                  school_id="elmwood")


def test_an_admin_has_no_school_and_a_single_school_config_needs_none_named(tmp_path):
    config = load(config_file(tmp_path))
    _, sessions = open_database(config)
    with sessions.begin() as session:
        champion = users.add(session, config, email="champ@oakfield.sch.uk",
                             role="digital_champion")
        admin = users.add(session, config, email="trust@example.org", role="admin")
        session.flush()
        assert (champion.school_id, admin.school_id) == ("oakfield", None)


# --- the commands -------------------------------------------------------------------------------

def test_users_add_reads_the_password_from_stdin_and_never_shows_it(setup, capsys,
                                                                    monkeypatch, caplog):
    path, _, sessions = setup
    caplog.set_level(logging.DEBUG)
    code, out, err = run(["users", "add", "--email", "Jo@Oakfield.sch.uk", "--role", "dsl",
                          "--school", "oakfield", "--name", "Jo Patel", "--password-stdin",
                          "--config", str(path)], capsys, PASSWORD + "\n", monkeypatch)
    assert code == 0, err
    assert out.strip() == "added jo@oakfield.sch.uk: dsl at oakfield, with a password"
    assert PASSWORD not in out + err + caplog.text
    with sessions() as session:
        assert users.authenticate(session, "jo@oakfield.sch.uk", PASSWORD) is not None


def test_users_add_without_a_password_prints_a_one_time_sign_in_link(setup, capsys):
    path, config, sessions = setup
    code, out, _ = run(["users", "add", "--email", "head@elmwood.sch.uk", "--role", "head",
                        "--school", "elmwood", "--config", str(path)], capsys)
    assert code == 0
    assert "works once, for 15 minutes" in out
    url = out.strip().splitlines()[-1]
    assert url.startswith("https://console.oakfield.example/sign-in/")
    with sessions() as session:
        user = users.get(session, "head@elmwood.sch.uk")
        assert user.password_hash is None
        key = links.signing_key(config, session)
    link = links.read_token(key, links.SIGN_IN, url.rsplit("/", 1)[1], max_age=900)
    assert link.subject == user.id


def test_without_a_console_no_link_is_printed_and_the_way_on_is_named(tmp_path, capsys):
    path = config_file(tmp_path)
    open_database(load(path))  # a server database is upgraded deliberately, not by a command
    code, out, _ = run(["users", "add", "--email", "it@oakfield.sch.uk", "--role", "it",
                        "--config", str(path)], capsys)
    assert code == 0
    assert "no sign-in link: the console is not configured" in out
    assert "/sign-in/" not in out


def test_users_list_shows_who_and_never_a_hash(setup, capsys):
    path, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk", password=PASSWORD)
    add(sessions, config, email="head@elmwood.sch.uk", role="head", school_id="elmwood")
    add(sessions, config, email="trust@example.org", role="admin", school_id=None)
    _, out, _ = run(["users", "list", "--config", str(path)], capsys)
    assert "$argon2" not in out and PASSWORD not in out
    rows = out.strip().splitlines()[2:]
    assert [row.split()[1] for row in rows] == ["trust@example.org", "head@elmwood.sch.uk",
                                               "dsl@oakfield.sch.uk"]
    assert "(all schools)" in rows[0]
    assert rows[2].split()[4:7] == ["oakfield", "active", "set"]
    _, out, _ = run(["users", "list", "--school", "elmwood", "--config", str(path)], capsys)
    assert "head@elmwood.sch.uk" in out and "dsl@oakfield" not in out and "trust@" not in out


def test_users_disable_enable_and_reset_from_the_command_line(setup, capsys):
    path, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk", password=PASSWORD)
    _, out, _ = run(["users", "disable", "DSL@oakfield.sch.uk", "--config", str(path)], capsys)
    assert out.strip() == "dsl@oakfield.sch.uk is disabled: they can no longer sign in"
    with sessions() as session:
        assert users.authenticate(session, "dsl@oakfield.sch.uk", PASSWORD) is None
    run(["users", "enable", "dsl@oakfield.sch.uk", "--config", str(path)], capsys)
    _, out, _ = run(["users", "reset", "dsl@oakfield.sch.uk", "--config", str(path)], capsys)
    assert "password cleared and every session ended" in out
    assert "https://console.oakfield.example/sign-in/" in out
    with sessions() as session:
        user = users.get(session, "dsl@oakfield.sch.uk")
        assert (user.disabled, user.password_hash, user.session_version) == (False, None, 2)


def test_users_password_sets_a_new_password_read_from_stdin(setup, capsys, monkeypatch):
    path, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk")
    code, out, err = run(["users", "password", "dsl@oakfield.sch.uk", "--password-stdin",
                          "--config", str(path)], capsys, PASSWORD + "\r\n", monkeypatch)
    assert code == 0 and out.strip() == "password set for dsl@oakfield.sch.uk"
    assert PASSWORD not in out + err
    with sessions() as session:
        assert users.authenticate(session, "dsl@oakfield.sch.uk", PASSWORD) is not None


@pytest.mark.parametrize(("args", "words"), [
    (["add", "--email", "a@oakfield.sch.uk", "--role", "dsl", "--school", "nowhere"],
     "unknown school 'nowhere'"),
    (["add", "--email", "a@oakfield.sch.uk", "--role", "janitor", "--school", "oakfield"],
     "unknown role 'janitor'"),
    (["add", "--email", "a@example.org", "--role", "admin", "--school", "oakfield"],
     "an admin is trust-wide and has no school"),
    (["add", "--email", "dsl@oakfield.sch.uk", "--role", "head", "--school", "oakfield"],
     "a staff account for dsl@oakfield.sch.uk already exists"),
    (["disable", "ghost@oakfield.sch.uk"], "no staff account for 'ghost@oakfield.sch.uk'"),
    (["password", "dsl@oakfield.sch.uk"], "--password-stdin"),
    (["list", "--school", "nowhere"], "unknown school 'nowhere'"),
])
def test_users_commands_refuse_bad_input_in_one_line(setup, capsys, args, words):
    path, config, sessions = setup
    add(sessions, config, email="dsl@oakfield.sch.uk")
    code, out, err = run(["users", *args, "--config", str(path)], capsys)
    assert code == 2
    [line] = err.strip().splitlines()
    assert words in line and "Traceback" not in err


def test_a_password_too_short_is_refused_without_being_shown(setup, capsys, monkeypatch):
    path, _, sessions = setup
    code, out, err = run(["users", "add", "--email", "a@oakfield.sch.uk", "--role", "dsl",
                          "--password-stdin", "--school", "oakfield", "--config", str(path)],
                         capsys, "hunter2\n", monkeypatch)
    assert code == 2 and "at least 12 characters" in err and "hunter2" not in out + err
    with sessions() as session:
        assert users.list_users(session) == []


def test_the_role_choices_shown_in_help_are_the_roles_accounts_can_have():
    assert ROLE_CHOICES == users.ALL_ROLES
