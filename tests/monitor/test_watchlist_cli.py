"""`hallmonitor watchlist add|remove|list|import|export` as IT uses them."""

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import models
from monitor import watchlist as wl
from monitor.cli import cli, main
from monitor.cli.watchlist import watchlist
from tests.connectors.test_x_lookup import not_found
from tests.http_server import json_answer
from tests.monitor.test_watchlist import NOW, make_school

pytestmark = pytest.mark.usefixtures("database")

GOOD_CSV = """\
platform,account_id,handle,pattern,reason,school,expires,added_by
x,1234567890,,,threatened the head,oakfield,,jo.it
instagram,,oak.hater,,abusive DMs to staff,,2030-01-31,
,,,h4ter,"names used in the 2025 campaign, any platform",elmwood,,sam.it
"""


@pytest.fixture(autouse=True)
def command():
    """The group on the `hallmonitor` command, as the package registers it."""
    registered = "watchlist" in cli.commands
    if not registered:
        cli.add_command(watchlist)
    yield
    if not registered:
        cli.commands.pop("watchlist")


@pytest.fixture
def setup(tmp_path):
    config, sessions = make_school(tmp_path)
    return str(config.path), config, sessions


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(sessions) -> list[models.WatchlistEntry]:
    with sessions() as session:
        return list(session.scalars(select(models.WatchlistEntry)
                                    .order_by(models.WatchlistEntry.id)))


def test_add_list_and_remove(setup, capsys):
    path, _, sessions = setup
    code, out, err = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                         "@OakHater", "--reason", "threatened the head", "--school", "oakfield",
                         "--expires", "2030-06-30", "--by", "jo.it")
    assert (code, err) == (0, "")
    # No X account is configured here, so the handle waits to be seen, and the command says so.
    assert out.strip().splitlines() == [
        "note: @OakHater could not be looked up (no X account is configured for Oakfield "
        "Primary School); its id will be filled in the first time the handle is seen",
        "added entry #1: @OakHater (id not yet seen) on x, for Oakfield Primary School, until "
        "2030-07-01 00:00"]
    code, out, _ = run(capsys, "watchlist", "add", "-c", path, "--pattern", "hater", "--trust",
                       "--reason", "campaign names", "--by", "sam.it")
    assert code == 0 and "added entry #2: pattern \"hater\" on every platform, for the whole " \
                          "trust" in out

    code, out, _ = run(capsys, "watchlist", "list", "-c", path)
    lines = out.splitlines()
    assert lines[0].split() == ["id", "school", "platform", "matches", "reason", "added", "by",
                                "added", "expires", "state"]
    assert lines[2].split()[:4] == ["1", "oakfield", "x", "@OakHater"]
    assert "threatened the head" in lines[2] and "jo.it" in lines[2] and "active" in lines[2]
    assert lines[3].split()[:4] == ["2", "(trust)", "(any)", "pattern"]

    code, out, _ = run(capsys, "watchlist", "remove", "-c", path, "1", "--by", "sam.it")
    assert (code, out.strip()) == (0, "removed entry #1 (@OakHater (id not yet seen)) by sam.it")
    _, out, _ = run(capsys, "watchlist", "list", "-c", path)
    assert "OakHater" not in out
    _, out, _ = run(capsys, "watchlist", "list", "-c", path, "--all")
    assert "removed by sam.it" in out
    [removed, _] = stored(sessions)
    assert (removed.removed_by, removed.reason) == ("sam.it", "threatened the head")


def test_list_for_a_school_shows_its_own_and_the_trusts_entries(setup, capsys):
    path, _, _ = setup
    for school in ("--school=oakfield", "--school=elmwood", "--trust"):
        assert run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--id",
                   school[-3:], "--reason", "r", school)[0] == 0
    _, out, _ = run(capsys, "watchlist", "list", "-c", path, "--school", "elmwood")
    assert "elmwood" in out and "(trust)" in out and "oakfield" not in out


def test_the_list_never_shows_what_anyone_wrote(setup, capsys):
    path, _, sessions = setup
    run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--id", "42", "--reason", "r",
        "--school", "oakfield")
    with sessions.begin() as session:
        source = session.scalars(select(models.Source)).first()
        session.add(models.Item(platform="x", external_id="1", source_id=source.id,
                                school_id="oakfield", kind="comment", author_id="42",
                                text="SECRET COMMENT TEXT", created_at=source.next_poll_at))
    _, out, _ = run(capsys, "watchlist", "list", "-c", path, "--all")
    assert "SECRET COMMENT TEXT" not in out


@pytest.mark.parametrize("args, words", [
    (["--platform", "x", "--id", "1", "--pattern", "p", "--school", "oakfield"], "not both"),
    (["--platform", "myspace", "--id", "1", "--school", "oakfield"], "unknown platform"),
    (["--platform", "x", "--id", "1"], "say whose entry it is"),
    (["--platform", "x", "--id", "1", "--school", "nowhere"], "unknown school 'nowhere'"),
    (["--platform", "x", "--id", "1", "--trust", "--expires", "someday"], "is not a date"),
    (["--platform", "x", "--id", "1", "--trust", "--expires", "2020-01-01"], "in the past"),
])
def test_add_refuses_bad_input_in_one_line(setup, capsys, args, words):
    path, _, sessions = setup
    code, out, err = run(capsys, "watchlist", "add", "-c", path, "--reason", "r", *args)
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert stored(sessions) == []


def test_add_needs_a_reason_and_remove_an_entry_that_exists(setup, capsys):
    path, _, _ = setup
    code, _, err = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--id", "1",
                       "--trust")
    assert code == 2 and "--reason" in err
    code, _, err = run(capsys, "watchlist", "remove", "-c", path, "99")
    assert (code, err.strip()) == (2, "Error: no watchlist entry #99")


def test_import_adds_every_row_of_a_good_file(setup, capsys, tmp_path):
    path, _, sessions = setup
    (tmp_path / "list.csv").write_text(GOOD_CSV, encoding="utf-8")
    code, out, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "list.csv"),
                         "--by", "importer")
    assert (code, err) == (0, "")
    assert out.strip().splitlines() == [
        "note: @oak.hater could not be looked up (Instagram does not let apps look accounts up "
        "by handle); its id will be filled in the first time the handle is seen",
        "imported 3 entries from list.csv"]
    first, second, third = stored(sessions)
    assert (first.platform, first.account_id, first.school_id, first.added_by) == \
        ("x", "1234567890", "oakfield", "jo.it")
    assert (second.handle, second.school_id, second.added_by) == ("oak.hater", None, "importer")
    assert second.expires_at.isoformat() == "2030-02-01T00:00:00+00:00"
    assert (third.platform, third.pattern, third.reason) == \
        (None, "h4ter", "names used in the 2025 campaign, any platform")


def test_an_import_with_bad_rows_names_each_bad_line_and_imports_nothing(setup, capsys,
                                                                         tmp_path):
    path, _, sessions = setup
    bad = GOOD_CSV + """\
myspace,1,,,r,oakfield,,
x,,,,nothing to match,oakfield,,
x,5,,hater,both,oakfield,,
x,6,,,bad date,oakfield,31/01/2030,
x,7,,,unknown school,nowhere,,
x,8,,,,oakfield,,
x,1234567890,,,the same again,oakfield,,
"""
    (tmp_path / "bad.csv").write_text(bad, encoding="utf-8")
    code, out, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "bad.csv"))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[:-1] == [
        "bad.csv: line 5: unknown platform 'myspace' (known: facebook, instagram, x)",
        "bad.csv: line 6: nothing to match: give an account id, a handle or a pattern",
        "bad.csv: line 7: give an account (id or handle) or a pattern, not both",
        "bad.csv: line 8: expiry '31/01/2030' is not a date (YYYY-MM-DD), a date and time or "
        "a number of days",
        "bad.csv: line 9: unknown school 'nowhere' (the config has oakfield, elmwood; empty "
        "for the whole trust)",
        "bad.csv: line 10: a reason is required: say why the account is a concern",
        "bad.csv: line 11: the same entry as line 2",
    ]
    assert lines[-1] == "Error: nothing imported: 7 bad rows in bad.csv"
    assert stored(sessions) == []


def test_an_import_with_the_wrong_header_or_not_utf8_is_refused(setup, capsys, tmp_path):
    path, _, sessions = setup
    (tmp_path / "h.csv").write_text("platform,id,reason\nx,1,r\n", encoding="utf-8")
    code, _, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "h.csv"))
    assert code == 2 and "line 1: the header must be platform,account_id,handle" in err
    (tmp_path / "latin.csv").write_bytes(GOOD_CSV.replace("head", "héad").encode("latin-1"))
    code, _, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "latin.csv"))
    assert (code, err.strip()) == (2, f"Error: {tmp_path / 'latin.csv'} is not UTF-8 text: "
                                      "save it as CSV UTF-8")
    code, _, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "none.csv"))
    assert code == 2 and "does not exist" in err
    assert stored(sessions) == []


def test_an_export_imports_back_as_it_was(setup, capsys, tmp_path):
    path, config, sessions = setup
    (tmp_path / "list.csv").write_text(GOOD_CSV, encoding="utf-8")
    run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "list.csv"))
    code, out, _ = run(capsys, "watchlist", "export", "-c", path, str(tmp_path / "out.csv"))
    assert (code, out.strip()) == (0, f"exported 3 entries to {tmp_path / 'out.csv'}")
    exported = (tmp_path / "out.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert rows[1]["expires"] == "2030-02-01T00:00:00+00:00"

    def fields(rows):
        return [(e.platform, e.account_id, e.handle, e.pattern, e.reason, e.school_id,
                 e.expires_at, e.added_by) for e in rows]

    before = fields(stored(sessions))
    # Into the same one again: nothing changes, and it says so.
    code, out, _ = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "out.csv"))
    assert out.strip() == ("imported 0 entries from out.csv; 3 already on the watchlist, left "
                           "as they are")
    assert len(stored(sessions)) == 3
    # Into an empty watchlist (another installation, or after a loss): the same entries.
    with sessions.begin() as session:
        session.query(models.WatchlistEntry).delete()
    code, out, _ = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "out.csv"))
    assert (code, out.strip().splitlines()[-1]) == (0, "imported 3 entries from out.csv")
    assert fields(stored(sessions)) == before


def test_the_example_file_in_the_docs_imports(setup, capsys, tmp_path):
    path, _, sessions = setup
    docs = (Path(__file__).parents[2] / "docs" / "watchlist.md").read_text(encoding="utf-8")
    example = docs.split("```\nplatform,account_id", 1)[1].split("```", 1)[0]
    (tmp_path / "example.csv").write_text("platform,account_id" + example, encoding="utf-8")
    code, out, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "example.csv"))
    assert (code, err) == (0, "")
    assert out.strip().splitlines()[-1] == "imported 3 entries from example.csv"
    assert [e.pattern for e in stored(sessions)] == [None, None, "oak hater"]


# --- handles looked up on X ---------------------------------------------------------------------

SCHOOL_X_ID = "1456789012345678901"
WATCHED_ID = "1700000000000000042"


def x_account(directory: Path, url: str, account: str = SCHOOL_X_ID) -> str:
    """An X account of Oakfield whose API is the local server, its token in a file."""
    token = directory / "x_bearer"
    token.write_text("AAAA-test-bearer\n", encoding="utf-8")
    token.chmod(0o600)
    return (f'[[schools.accounts]]\nplatform = "x"\naccount = "{account}"\n'
            f'kinds = ["mentions"]\nsettings = {{ base_url = "{url}" }}\n'
            f'credentials = {{ bearer_token = "file:{token}" }}\n')


class FakeXUsers:
    """A local X answering GET /2/users/by/username/:username as X API v2 does: the user, or
    200 with an "errors" list for a username nobody has."""

    def __init__(self, server, users: dict[str, tuple[str, str]]) -> None:
        self.server = server
        self.users = dict(users)  # handle -> (id, name)
        self.lookups: list[str] = []

    def answer_for(self, *handles: str) -> None:
        for handle in handles:
            self.server.route("GET", f"/2/users/by/username/{handle}",
                              lambda request, handle=handle: self.lookup(handle))

    def lookup(self, handle: str):
        self.lookups.append(handle)
        user = next(((h, v) for h, v in self.users.items() if h.lower() == handle.lower()), None)
        if user is None:
            return json_answer(not_found(handle))
        current, (user_id, name) = user
        return json_answer({"data": {"id": user_id, "name": name, "username": current}})


@pytest.fixture
def fake_x(local_server):
    return FakeXUsers(local_server(), {"OakHater": (WATCHED_ID, "Oak H")})


@pytest.fixture
def with_x(tmp_path, fake_x):
    config, sessions = make_school(tmp_path, extra_school=x_account(tmp_path, fake_x.server.url))
    return str(config.path), config, sessions


def test_add_by_handle_stores_the_id_x_gives_and_the_current_handle(with_x, fake_x, capsys):
    path, _, sessions = with_x
    fake_x.answer_for("oakhater")
    code, out, err = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                         "@oakhater", "--reason", "threatened the head", "--school", "oakfield",
                         "--by", "jo.it")
    assert (code, err) == (0, "")
    assert out.strip().splitlines() == [
        f"resolved @oakhater to id {WATCHED_ID}",
        f"added entry #1: id {WATCHED_ID} (@OakHater) on x, for Oakfield Primary School"]
    (entry,) = stored(sessions)
    assert (entry.account_id, entry.handle) == (WATCHED_ID, "OakHater")
    assert fake_x.lookups == ["oakhater"]
    assert fake_x.server.requests[0].headers["Authorization"] == "Bearer AAAA-test-bearer"


def test_the_resolved_id_keeps_matching_after_the_handle_changes(with_x, fake_x, capsys):
    path, _, sessions = with_x
    fake_x.answer_for("OakHater")
    assert run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
               "OakHater", "--reason", "r", "--school", "oakfield")[0] == 0
    (entry,) = stored(sessions)
    with sessions.begin() as session:
        renamed = wl.matches(session, "oakfield", "x", WATCHED_ID, "NewName_2026",
                                    "Someone New", NOW)
        # Whoever takes up the old handle later is not the watched account.
        taker = wl.matches(session, "oakfield", "x", "1700000000000000099", "OakHater",
                                  "Oak H", NOW)
    assert [e.id for e in renamed] == [entry.id] and taker == []


def test_with_no_x_account_for_the_school_the_handle_is_added_with_a_note(with_x, fake_x,
                                                                          capsys):
    path, _, sessions = with_x
    code, out, _ = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                       "OakHater", "--reason", "r", "--school", "elmwood")
    assert code == 0
    note, added = out.strip().splitlines()
    assert note == ("note: @OakHater could not be looked up (no X account is configured for "
                    "Elmwood Academy); its id will be filled in the first time the handle is "
                    "seen")
    assert added.startswith("added entry #1: @OakHater (id not yet seen) on x")
    assert fake_x.lookups == []
    (entry,) = stored(sessions)
    assert (entry.account_id, entry.handle) == (None, "OakHater")


def test_a_trust_wide_entry_is_looked_up_through_any_schools_x_account(with_x, fake_x, capsys):
    path, _, sessions = with_x
    fake_x.answer_for("OakHater")
    code, out, _ = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                       "OakHater", "--reason", "r", "--trust")
    assert code == 0 and out.startswith(f"resolved @OakHater to id {WATCHED_ID}\n")
    assert stored(sessions)[0].account_id == WATCHED_ID


def test_x_unreachable_or_refusing_still_adds_the_handle_with_a_note(tmp_path, local_server,
                                                                    capsys):
    refusing = local_server(routes={("GET", "/2/users/by/username/OakHater"): json_answer(
        {"title": "Unauthorized", "type": "about:blank", "status": 401,
         "detail": "Unauthorized"}, status=401)})
    config, sessions = make_school(tmp_path, extra_school=x_account(tmp_path, refusing.url))
    code, out, err = run(capsys, "watchlist", "add", "-c", str(config.path), "--platform", "x",
                         "--handle", "OakHater", "--reason", "r", "--school", "oakfield")
    assert (code, err) == (0, "")
    note, added = out.strip().splitlines()
    assert note.startswith("note: @OakHater could not be looked up (X refused the credentials")
    assert note.endswith("its id will be filled in the first time the handle is seen")
    assert "AAAA-test-bearer" not in out
    assert added.startswith("added entry #1: @OakHater (id not yet seen)")
    refusing.stop()  # nothing listening: the connection is refused
    code, out, _ = run(capsys, "watchlist", "add", "-c", str(config.path), "--platform", "x",
                       "--handle", "Other_One", "--reason", "r", "--school", "oakfield")
    assert code == 0 and "could not be looked up (could not reach X" in out
    assert [e.account_id for e in stored(sessions)] == [None, None]


def test_a_handle_x_says_nobody_has_is_refused_unless_kept(with_x, fake_x, capsys):
    path, _, sessions = with_x
    fake_x.answer_for("Nobody_Here")
    code, out, err = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                         "Nobody_Here", "--reason", "r", "--school", "oakfield")
    assert (code, out) == (2, "")
    assert err.strip() == ("Error: X has no account @Nobody_Here: check the spelling (the "
                           "handle, not the display name), or add it with --keep-unresolved "
                           "to wait for the handle to be seen")
    assert stored(sessions) == []
    code, out, _ = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                       "Nobody_Here", "--reason", "r", "--school", "oakfield",
                       "--keep-unresolved")
    assert code == 0
    assert out.splitlines()[0] == ("X has no account @Nobody_Here; added by its handle, as "
                                   "asked")
    assert [(e.account_id, e.handle) for e in stored(sessions)] == [(None, "Nobody_Here")]


def test_a_handle_already_watched_is_refused_before_x_is_asked(with_x, fake_x, capsys):
    path, _, _ = with_x
    fake_x.answer_for("OakHater")
    run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--id", WATCHED_ID,
        "--reason", "r", "--school", "oakfield")
    code, _, err = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                       "OakHater", "--reason", "r", "--school", "oakfield")
    assert code == 2 and "already on the watchlist as entry #1" in err
    assert fake_x.lookups == ["OakHater"]  # asked once, then found to be the same account
    run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle", "Waiting",
        "--reason", "r", "--school", "oakfield", "--keep-unresolved")
    fake_x.lookups.clear()
    code, _, err = run(capsys, "watchlist", "add", "-c", path, "--platform", "x", "--handle",
                       "waiting", "--reason", "r", "--school", "oakfield")
    assert code == 2 and "already on the watchlist as entry #2" in err
    assert fake_x.lookups == []


IMPORT_HANDLES = """\
platform,account_id,handle,pattern,reason,school,expires,added_by
x,,@OakHater,,threatened the head,oakfield,,jo.it
x,,Gone_Quiet,,old campaign,oakfield,,jo.it
instagram,,oak.hater,,abusive DMs to staff,,,
"""


def test_import_looks_handles_up_and_refuses_the_whole_file_for_one_nobody_has(
        with_x, fake_x, capsys, tmp_path):
    path, _, sessions = with_x
    fake_x.answer_for("OakHater", "Gone_Quiet")
    (tmp_path / "h.csv").write_text(IMPORT_HANDLES, encoding="utf-8")
    code, out, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "h.csv"))
    assert (code, out) == (2, "")
    assert err.strip().splitlines() == [
        "h.csv: line 3: X has no account @Gone_Quiet: check the spelling (the handle, not the "
        "display name), or add it with --keep-unresolved to wait for the handle to be seen",
        "Error: nothing imported: 1 bad row in h.csv"]
    assert stored(sessions) == []

    fake_x.users["Gone_Quiet"] = ("1700000000000000077", "Quiet")
    code, out, err = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "h.csv"))
    assert (code, err) == (0, "")
    assert out.strip().splitlines() == [
        f"resolved @OakHater to id {WATCHED_ID}",
        "resolved @Gone_Quiet to id 1700000000000000077",
        "note: @oak.hater could not be looked up (Instagram does not let apps look accounts up "
        "by handle); its id will be filled in the first time the handle is seen",
        "imported 3 entries from h.csv"]
    assert [(e.platform, e.account_id, e.handle) for e in stored(sessions)] == [
        ("x", WATCHED_ID, "OakHater"), ("x", "1700000000000000077", "Gone_Quiet"),
        ("instagram", None, "oak.hater")]


def test_handles_that_cannot_be_looked_up_for_the_same_reason_share_one_note(setup, capsys,
                                                                             tmp_path):
    path, _, sessions = setup
    rows = "".join(f"instagram,,oak.hater{n},,abusive DMs,oakfield,,\n" for n in range(7))
    (tmp_path / "ig.csv").write_text(IMPORT_HANDLES.splitlines()[0] + "\n" + rows,
                                     encoding="utf-8")
    code, out, _ = run(capsys, "watchlist", "import", "-c", path, str(tmp_path / "ig.csv"))
    assert code == 0
    assert out.strip().splitlines() == [
        "note: 7 handles (@oak.hater0, @oak.hater1, @oak.hater2, @oak.hater3, @oak.hater4 and "
        "2 more) could not be looked up (Instagram does not let apps look accounts up by "
        "handle); each id will be filled in the first time its handle is seen",
        "imported 7 entries from ig.csv"]
    assert all(e.account_id is None for e in stored(sessions))
