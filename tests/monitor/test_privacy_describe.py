"""The DPIA description (`monitor.privacy.describe`), built from real config files: each
configured source named and a switched-off one listed as not watched, what each platform gives,
who is told through which kind of service (named from the URL's scheme alone), where the data
lives, the retention figures the config sets, and no secret anywhere in the text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from monitor.cli import main
from monitor.config import load
from monitor.privacy.describe import SECRET_UNSHOWN, describe, service_of
from tests.builders import write_config
from tests.trust_builder import MORE_SCHOOLS, TRUST

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

# Values that must never appear in the description: the secrets behind references, and the
# parts of plain URLs other than their scheme.
HEAD_SECRET = "Zq9-head-PASSWORD-7731"
DSL_TOKEN = "T0kenDSLwebhookQX42"
ODD_SECRET = "zzsecretq77"
FB_TOKEN = "EAAB-facebook-token-5521"
X_BEARER = "AAAA-x-bearer-token-9034"
SLACK_TOKENS = ("T1234SLACKA", "B5678SLACKB", "C9999slackc")
NAME_KEY = "name-key-4f1c0d9e8b7a"
DB_PASSWORD = "db-Pa55word-0042"

ACCOUNTS = """
quiet_hours = { start = "21:00", end = "07:00" }
pupil_names = "pupils.csv"
staff_names = "staff.csv"

[[schools.accounts]]
platform = "facebook"
name = "Oakfield Primary School Page"
account = "555000111"
kinds = ["comments", "ratings"]
poll_interval = "2m"
credentials = { page_access_token = "env:HM_TEST_FB_TOKEN" }

[[schools.accounts]]
platform = "instagram"
name = "Old Instagram account"
account = "17841400000000001"
kinds = ["comments"]
enabled = false

[[schools.accounts]]
platform = "x"
name = "@OakfieldPrimary"
account = "1456789012345678901"
kinds = ["mentions", "search", "followers"]
poll_interval = "15m"
settings = { handle = "OakfieldPrimary", keywords = ["Oakfield Primary", "#OakfieldPrimary"] }
credentials = { bearer_token = "env:HM_TEST_X_BEARER" }
"""

RECIPIENTS = {
    "digital_champion": ["mailto://hallmonitor@relay.oakfield.example?to=champion@oakfield.example",
                         f"slack://{'/'.join(SLACK_TOKENS)}/#moderation"],
    "dsl": ["env:HM_TEST_DSL_URL"],
    "head": ["env:HM_TEST_HEAD_URL", "env:HM_TEST_ODD_URL"],
    "it": ["workflows://prod-01.westeurope.logic.azure.com:443/wfid-it/sigtoken-it"],
}


@pytest.fixture
def oakfield(tmp_path, monkeypatch):
    """A single school with Facebook, a switched-off Instagram and X (mentions, a search and
    followers), recipients on email, Slack, Teams, a webhook and secret references, and pupil
    and staff lists."""
    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("HM_TEST_FB_TOKEN", FB_TOKEN)
    monkeypatch.setenv("HM_TEST_X_BEARER", X_BEARER)
    monkeypatch.setenv("HM_TEST_NAME_KEY", NAME_KEY)
    monkeypatch.setenv("HM_TEST_HEAD_URL", f"mailtos://alerts:{HEAD_SECRET}@smtp.office365.com"
                                           "?to=head@oakfield.sch.uk")
    monkeypatch.setenv("HM_TEST_DSL_URL", f"json://hooks.oakfield.example/{DSL_TOKEN}")
    # Not a URL at all: its first characters must not be shown as if they were a scheme.
    monkeypatch.setenv("HM_TEST_ODD_URL", f"{ODD_SECRET}://not-a-service")
    (tmp_path / "pupils.csv").write_text("name\nAmelia Hartley-Quince\n", encoding="utf-8")
    (tmp_path / "staff.csv").write_text("name\nMrs Jane Smith\n", encoding="utf-8")
    path = write_config(tmp_path, RECIPIENTS, daemon='name_key = "env:HM_TEST_NAME_KEY"',
                        extra_school=ACCOUNTS, poll_interval="5m")
    return path


def section(text: str, heading: str) -> str:
    """The Markdown under one `## ` heading, up to the next."""
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def row(text: str, first_cell: str) -> list[str]:
    """The cells of the table row starting with `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def test_it_names_every_watched_account_and_lists_the_switched_off_one_as_not_watched(oakfield):
    text = describe(load(oakfield), "md", now=NOW)
    watched = section(text, "2. Which accounts are watched")
    facebook = row(watched, "Facebook")
    assert facebook[1] == "Oakfield Primary School Page, id 555000111"
    assert "comments and replies on the Page's posts" in facebook[2]
    assert "recommendations and reviews of the Page" in facebook[2]
    assert facebook[3] == "read every 2 minutes"
    x = row(watched, "X")
    assert "public posts that mention the account" in x[2]
    assert ("public posts naming the school: \u201cOakfield Primary\u201d, "
            "\u201c#OakfieldPrimary\u201d") \
        in x[2]
    assert "the accounts that follow it" in x[2]
    assert x[3] == "read every 15 minutes; followers synced every day"
    demo = row(watched, "Facebook (demo recording)")
    assert demo[3] == "read every 5 minutes"
    # The switched-off account is listed apart, as not watched, and nowhere in the tables.
    not_watched = watched[watched.index("Not watched"):]
    assert "- Instagram: Old Instagram account, id 17841400000000001" in not_watched
    assert "| Instagram" not in watched
    never = section(text, "2. Which accounts are watched")[watched.index("### What is never"):]
    assert "Pupils' own accounts" in never
    assert "Private or direct messages" in never


def test_it_describes_what_each_configured_platform_gives_and_only_those(oakfield):
    text = describe(load(oakfield), "md", now=NOW)
    collected = section(text, "3. What is collected")
    assert "### Facebook" in collected and "### X" in collected
    # Instagram is configured but switched off: nothing is collected from it.
    assert "### Instagram" not in collected
    assert "the author's X id, handle (@username) and display name" in collected
    assert "the author's Facebook id and display name" in collected
    assert row(collected, "Rating")  # Facebook ratings are configured
    # X followers: what the follower sync keeps for screening.
    assert "bio, when the account was made" in collected
    assert row(collected, "Screening")
    assert "removed after 30 days" in row(collected, "Raw payload")[2]


def test_it_names_the_channels_by_service_and_never_a_secret(oakfield):
    config = load(oakfield)
    text = describe(config, "md", now=NOW)
    page = describe(config, "html", now=NOW)
    who = section(text, "5. Who receives what")
    assert row(who, "Digital champion (`digital_champion`)")[2] == "email via SMTP, Slack"
    assert row(who, "Designated safeguarding lead (`dsl`)")[2] == "webhook (JSON)"
    assert row(who, "Headteacher (`head`)")[2] == f"email via SMTP, {SECRET_UNSHOWN}"
    assert row(who, "IT (`it`)")[2] == "Microsoft Teams (Workflows webhook)"
    # What each role is told, by severity, from the routes.
    assert "urgent comments (threat, safeguarding)" in row(who, "Designated safeguarding lead "
                                                                "(`dsl`)")[1]
    assert "the weekly digest" in row(who, "Headteacher (`head`)")[1]
    assert "the weekly follower report" in row(who, "IT (`it`)")[1]
    assert "when quiet hours end (21:00\u201307:00)" in who
    processors = section(text, "8. Processors")
    for name in ("X Corp.", "Meta Platforms Ireland Limited", "Slack Technologies",
                 "Microsoft", "The school's email provider"):
        assert name in processors
    for output in (text, page):
        for secret in (HEAD_SECRET, DSL_TOKEN, ODD_SECRET, FB_TOKEN, X_BEARER, NAME_KEY,
                       *SLACK_TOKENS, "smtp.office365.com", "hooks.oakfield.example",
                       "relay.oakfield.example", "champion@oakfield.example",
                       "head@oakfield.sch.uk", "logic.azure.com", "sigtoken-it"):
            assert secret not in output
        # The pupil and staff lists are described, never read out.
        assert "Amelia" not in output and "Hartley-Quince" not in output
        assert "Jane Smith" not in output


@pytest.mark.parametrize(("url", "service"), [
    ("mailto://relay.example?to=a@b.example", "email via SMTP"),
    ("mailtos://user@smtp.example", "email via SMTP"),
    ("json://hooks.example/abc", "webhook (JSON)"),
    ("xml://hooks.example/abc", "webhook (XML)"),
    ("slack://A/B/C", "Slack"),
    ("workflows://host/abc/def", "Microsoft Teams (Workflows webhook)"),
    ("twilio://SID@+441234567890/+447700900123", "SMS via Twilio"),
    ("console://", "the server's terminal (demo)"),
    # Apprise's own name for a service not named here.
    ("pover://user@token", "Pushover"),
    ("nosuchservice://x", "an unrecognised service (nosuchservice://)"),
    ("env:HM_TEST_HEAD_URL", "email via SMTP"),
    ("env:HM_TEST_ODD_URL", SECRET_UNSHOWN),
    ("env:HM_TEST_NOT_SET_ANYWHERE", SECRET_UNSHOWN),
])
def test_a_destination_is_named_by_its_schemes_service(oakfield, url, service):
    assert service_of(load(oakfield), url).name == service


FLAGGED = ("Flagged comments, with their verdicts, the copies of their words in alerts and their "
           "evidence records' contents")


def test_the_retention_periods_are_the_configs_own(oakfield):
    before = section(describe(load(oakfield), "md", now=NOW), "7. How long it is kept")
    assert row(before, "Raw API payloads")[1] == "30 days after collection"
    assert row(before, "Text and author of comments nobody needed to act on")[1] \
        == "30 days after collection"
    assert row(before, FLAGGED)[1].startswith(
        "365 days after their incident is resolved")
    assert row(before, "An incident under evidence hold, with its comments and evidence")[1] \
        == "until the hold is released"
    oakfield.write_text(oakfield.read_text(encoding="utf-8") + "\n[retention]\n"
                        "raw_payload_days = 14\nunflagged_text_days = 21\nflagged_days = 400\n"
                        "batch_size = 250\n", encoding="utf-8")
    text = describe(load(oakfield), "md", now=NOW)
    after = section(text, "7. How long it is kept")
    assert row(after, "Raw API payloads")[1] == "14 days after collection"
    assert row(after, "Text and author of comments nobody needed to act on")[1] \
        == "21 days after collection"
    assert row(after, FLAGGED)[1].startswith(
        "400 days after their incident is resolved")
    assert row(after, "Weekly reports kept in alerts (digest, DSL's summary, follower "
                      "report)")[1] == "400 days after they were sent"
    assert "batches of 250 rows" in after
    assert "removed after 14 days" in row(section(text, "3. What is collected"),
                                          "Raw payload")[2]
    # Raw payloads can be not kept at all.
    oakfield.write_text(oakfield.read_text(encoding="utf-8").replace(
        "raw_payload_days = 14", "raw_payload_days = 0"), encoding="utf-8")
    text = describe(load(oakfield), "md", now=NOW)
    assert row(section(text, "7. How long it is kept"), "Raw API payloads")[1] == "not kept"
    assert "; not kept" in row(section(text, "3. What is collected"), "Raw payload")[2]


def test_it_says_where_the_data_is_without_a_database_password(oakfield, monkeypatch):
    text = describe(load(oakfield), "md", now=NOW)
    stored = section(text, "6. Where it is stored")
    assert "an SQLite database file on this server" in stored
    assert str(oakfield.parent / "data" / "hallmonitor.sqlite3") in stored
    assert "The staff console is off." in stored
    assert "pupils' and staff's name lists are stored and matched only as keyed hashes" in stored
    monkeypatch.setenv("HALLMONITOR_DATABASE_URL",
                       f"postgresql://hallmonitor:{DB_PASSWORD}@db.oakfield.internal:5433/hm_prod")
    oakfield.write_text(oakfield.read_text(encoding="utf-8")
                        + '\n[web]\nenabled = true\nhost = "0.0.0.0"\nport = 8443\n'
                        'public_url = "https://hallmonitor.oakfield.example"\n',
                        encoding="utf-8")
    text = describe(load(oakfield), "md", now=NOW)
    stored = section(text, "6. Where it is stored")
    assert "a postgresql database, `hm_prod` on `db.oakfield.internal:5433`" in stored
    assert "listening on `0.0.0.0:8443` and reached at `https://hallmonitor.oakfield.example`" \
        in stored
    assert DB_PASSWORD not in text
    assert "Whoever hosts the database server" in section(text, "8. Processors")


def test_it_covers_purposes_rights_and_safeguards_and_leaves_the_lawful_basis_to_the_school(
        oakfield):
    text = describe(load(oakfield), "md", now=NOW)
    assert text.startswith("# Hall Monitor: description of the processing\n")
    assert "Generated on 5 December 2026" in text
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == ["1. The controller", "2. Which accounts are watched, and which are not",
                        "3. What is collected from each platform", "4. Purposes",
                        "5. Who receives what", "6. Where it is stored", "7. How long it is kept",
                        "8. Processors and other organisations",
                        "9. How people exercise their rights", "10. Safeguards"]
    purposes = section(text, "4. Purposes")
    for purpose in ("Moderation:", "Safeguarding:", "Reputation and communication:",
                    "IT's watchlist:", "X followers"):
        assert purpose in purposes
    assert "To be stated by the school: this description does not decide it." in purposes
    assert "public task" in purposes and "legitimate interests" in purposes
    rights = section(text, "9. How people exercise their rights")
    for command in ("hallmonitor privacy find --author", "hallmonitor privacy export --author",
                    "hallmonitor privacy erase --author"):
        assert command in rights
    assert "an incident under evidence hold" in rights
    assert "`hallmonitor incidents release ID`" in rights
    assert "never whose or what" in rights
    safeguards = section(text, "10. Safeguards")
    assert "no pupil's or member of staff's own account is monitored" in safeguards
    assert "keyed hashes" in safeguards
    assert "The controller is Oakfield Primary School." in section(text, "1. The controller")


def test_a_trust_is_the_controller_of_its_schools_each_described(tmp_path, monkeypatch):
    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    path = write_config(tmp_path, {"dsl": ["console://"], "head": ["console://"]})
    path.write_text(path.read_text(encoding="utf-8") + MORE_SCHOOLS, encoding="utf-8")
    text = describe(load(path), "md", now=NOW)
    controller = section(text, "1. The controller")
    assert f"The controller is {TRUST}, the trust, for the schools below" in controller
    for name, school_id, zone in (("Oakfield Primary School", "oakfield", "Europe/London"),
                                  ("Elmwood Academy", "elmwood", "Europe/London"),
                                  ("Harbour International School", "harbour",
                                   "America/New_York")):
        assert row(controller, name) == [name, school_id, zone]
        assert f"### {name}" in section(text, "2. Which accounts are watched")
        assert f"### {name}" in section(text, "5. Who receives what")
    who = section(text, "5. Who receives what")
    assert "The trust's weekly roll-up" in who and "(Chief executive)" in who
    # Elmwood has no recipients: its alerts reach nobody, and the description says so.
    elmwood = who[who.index("### Elmwood Academy"):who.index("### Harbour")]
    assert row(elmwood, "Designated safeguarding lead (`dsl`)")[2] \
        == "nobody: no recipient is configured"


def test_the_html_is_a_standalone_escaped_document(tmp_path, monkeypatch):
    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    path = write_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'name = "Oakfield Primary School"',
        'name = "St Mary & St John\'s <script>alert(1)</script> School"'), encoding="utf-8")
    page = describe(load(path), "html", now=NOW)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Hall Monitor: description of the processing</title>" in page
    assert "St Mary &amp; St John&#x27;s &lt;script&gt;alert(1)&lt;/script&gt; School" in page
    assert "<script" not in page
    # Nothing is fetched: no links to stylesheets, images or fonts.
    assert not re.search(r"<link|<img|src=|@import|url\(", page)
    assert "@page { size: A4" in page
    assert "<h2>7. How long it is kept</h2>" in page
    assert "<code>hallmonitor privacy find --author HANDLE_OR_ID [--platform P]</code>" in page
    # The Markdown keeps the name as text too, not as an HTML tag.
    text = describe(load(path), "md", now=NOW)
    assert "&lt;script>" in text and "<script" not in text


@pytest.mark.parametrize("fmt", ["pdf", "markdown", "", "HTML"])
def test_an_unknown_format_is_refused(oakfield, fmt):
    with pytest.raises(ValueError, match="unknown format"):
        describe(load(oakfield), fmt)


def test_the_weekly_reports_are_named_only_when_the_digests_are_on(oakfield):
    who = section(describe(load(oakfield), "md", now=NOW), "5. Who receives what")
    assert "the weekly digest" in row(who, "Headteacher (`head`)")[1]
    assert "the weekly safeguarding summary" in row(who, "Designated safeguarding lead "
                                                         "(`dsl`)")[1]
    oakfield.write_text(oakfield.read_text(encoding="utf-8") + "\n[digest]\nenabled = false\n",
                        encoding="utf-8")
    who = section(describe(load(oakfield), "md", now=NOW), "5. Who receives what")
    assert "weekly" not in row(who, "Headteacher (`head`)")[1]
    assert "weekly" not in row(who, "Designated safeguarding lead (`dsl`)")[1]


def test_the_command_prints_the_description_without_secrets(oakfield, capsys):
    main(["privacy", "describe", "--config", str(oakfield), "--format", "html"])
    out = capsys.readouterr().out
    assert out.startswith("<!DOCTYPE html>")
    assert "Oakfield Primary School Page, id 555000111" in out
    assert HEAD_SECRET not in out and DSL_TOKEN not in out
