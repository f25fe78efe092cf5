"""The description of the processing a school's data protection impact assessment needs,
generated from the running configuration (`hallmonitor privacy describe`).

It says what this installation does, not what it could do: which accounts are watched (and which
are switched off), what each configured platform gives, who is told what and through which kind
of service, where the data lives, how long each part is kept, who else is involved, how people
exercise their rights and what keeps the processing narrow. The lawful basis and the assessment
of risk are the school's to write; the text says so rather than deciding for it.

Secrets stay secret: a recipient given as a reference (`env:NAME`, `file:/path`) is described by
the scheme of the URL it resolves to and nothing else, and a plain URL by its scheme too (no host,
user, token or path), so the document can be shared with governors or a regulator as it is.

The document is built once as headings, paragraphs, lists and tables, then written either as
Markdown or as a standalone HTML page that prints on A4 (inline CSS, no script, nothing fetched).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from classifiers.base import CATEGORIES
from monitor import rules, secrets
from monitor.config import ROLES, Account, Config, School
from monitor.message import CATEGORY_LABELS, PLATFORM_NAMES

FORMATS = ("md", "html")
TITLE = "Hall Monitor: description of the processing"

# --- the document's parts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    # The closing note, set apart from the sections (a rule in Markdown, a footer in HTML).
    note: bool = False


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Part = Heading | Paragraph | Bullets | Table


def _literal(value: object) -> str:
    """A value from the config, as text that cannot open a code span or break a line."""
    return re.sub(r"\s+", " ", str(value)).replace("`", "'").strip()


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    return Table(tuple(header), tuple(tuple(row) for row in rows))


# --- what the platforms are and give --------------------------------------------------------------

# Who runs each platform (for UK users): the organisation the data comes from.
PLATFORM_OPERATORS = {
    "facebook": "Meta Platforms Ireland Limited",
    "instagram": "Meta Platforms Ireland Limited",
    "x": "X Corp.",
}

# What a source of each kind reads, in words: (platform, kind) -> description.
KIND_WORDS = {
    ("facebook", "comments"): "comments and replies on the Page's posts (its own and visitors')",
    ("facebook", "visitor_posts"): "posts people leave on the Page",
    ("facebook", "tags"): "public posts elsewhere that tag the Page",
    ("facebook", "ratings"): "recommendations and reviews of the Page",
    ("instagram", "comments"): "comments and replies on the account's own posts",
    ("instagram", "tags"): "posts by others that tag the account",
    ("x", "mentions"): "public posts that mention the account (replies to it included)",
    ("x", "replies"): "public replies addressed to the account",
    ("x", "search"): "public posts naming the school",
    ("x", "followers"): "the accounts that follow it, with their public profiles",
}

# Why each piece of data is needed: shared by the platforms' tables.
WHY_TEXT = "to classify it, and to show it to the member of staff who acts on it"
WHY_AUTHOR = ("to group one person's comments, to block them, and to find what is held about "
              "them when they ask")
WHY_TIME = "the school's policy records time, date and place before anything is removed"
WHY_LINK = "to find it and act on it where it was posted"
WHY_THREAD = "to make a pile-on on one thread one incident rather than fifty alerts"
WHY_RAW = "to check what the platform sent while an alert is fresh"


def _item_rows(platform: str, kinds: set[str], raw_days: int) -> list[tuple[str, str, str]]:
    """What is kept of each comment or post read from `platform`."""
    title = PLATFORM_NAMES.get(platform, platform)
    author = {
        "facebook": "the author's Facebook id and display name (Facebook leaves the author out "
                    "for some people)",
        "instagram": "the author's Instagram id and username (handle)",
        "x": "the author's X id, handle (@username) and display name",
    }.get(platform, "the author's id, handle and name as the platform gives them")
    thread = {
        "facebook": "the id of the post it is on and of the comment it answers",
        "instagram": "the id of the post (media) it is on and of the comment it answers",
        "x": "the conversation id and the id of the post it replies to",
    }.get(platform, "the ids of the thread it belongs to and of what it answers")
    rows = [
        ("Text", "the words of the comment or post" + (
            " (a tagging post's caption)" if "tags" in kinds else ""), WHY_TEXT),
        ("Author", author, WHY_AUTHOR),
        ("Time", "when it was posted, in UTC (shown in the school's time)", WHY_TIME),
        ("Link", f"its permalink on {title}", WHY_LINK),
        ("Thread", thread, WHY_THREAD),
    ]
    if platform == "facebook" and "ratings" in kinds:
        rows.append(("Rating", "a recommendation's or review's text and whether it recommends "
                     "the school", "the head's digest counts praise and complaints"))
    kept = (f"removed after {_days(raw_days)}" if raw_days else "not kept") + (
        " (an evidence record keeps its copy as long as the comment)")
    rows.append(("Raw payload", f"the API's answer for it as fetched (the fields above as "
                 f"{title} sent them)", f"{WHY_RAW}; {kept}"))
    return rows


FOLLOWER_ROWS = (
    ("Follower's account", "their X id, handle and display name",
     "to spot accounts of concern following the school's account"),
    ("Profile", "bio, when the account was made, how many posts it has made and accounts it "
     "follows, whether its picture is X's default", "screening signals: new, empty or "
     "imitation accounts"),
    ("History", "when they were first seen following, unfollowed or followed again; changes "
     "of handle or name", "to follow an account of concern that renames itself"),
    ("Screening", "whether the name, handle or bio reads as abusive, hateful or spam, or "
     "imitates the school or a member of staff", "IT's follower report and watchlist alerts"),
)


def _days(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def _every(seconds: float) -> str:
    """A polling interval as people say it: "every 5 minutes", "every hour", "every day"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    count = round(seconds)
    return "every second" if count <= 1 else f"every {count} seconds"


# --- the services behind Apprise URLs -------------------------------------------------------------

# scheme -> (the service, in words; who processes what is sent through it). None: nobody else.
SERVICES: dict[str, tuple[str, str | None]] = {
    "mailto": ("email via SMTP", "the school's email provider (the mail server the URL names)"),
    "mailtos": ("email via SMTP", "the school's email provider (the mail server the URL names)"),
    "slack": ("Slack", "Slack Technologies (Salesforce)"),
    "workflows": ("Microsoft Teams (Workflows webhook)", "Microsoft"),
    "workflow": ("Microsoft Teams (Workflows webhook)", "Microsoft"),
    "msteams": ("Microsoft Teams", "Microsoft"),
    "json": ("webhook (JSON)", "whoever runs the web service the webhook points at"),
    "jsons": ("webhook (JSON)", "whoever runs the web service the webhook points at"),
    "xml": ("webhook (XML)", "whoever runs the web service the webhook points at"),
    "xmls": ("webhook (XML)", "whoever runs the web service the webhook points at"),
    "form": ("webhook (form)", "whoever runs the web service the webhook points at"),
    "forms": ("webhook (form)", "whoever runs the web service the webhook points at"),
    "twilio": ("SMS via Twilio", "Twilio"),
    "discord": ("Discord", "Discord"),
    "tgram": ("Telegram", "Telegram"),
    "signal": ("Signal (through a Signal API server)", "whoever runs the Signal API server"),
    "ntfy": ("ntfy push notifications", "the ntfy server's operator"),
    "console": ("the server's terminal (demo)", None),
}
SECRET_UNSHOWN = "a secret reference (service not shown)"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31})://")


def _scheme(config: Config, url: str) -> str | None:
    """The scheme of a destination; a reference is resolved only to read it. None when it
    cannot be read."""
    value = url
    if secrets.is_reference(url):
        held = config.secrets.get(url)
        if held is None:
            try:
                value = secrets.resolve(url, base_dir=config.path.parent if config.path else None)
            except secrets.SecretError:
                return None
        else:
            value = held.reveal()
    match = _SCHEME.match(value.strip())
    return match.group(1).lower() if match else None


def _apprise_service(scheme: str) -> str | None:
    """Apprise's own name for a service this module does not name itself."""
    try:
        from apprise.manager_plugins import NotificationManager

        plugin = NotificationManager()[scheme]
    except (ImportError, KeyError):
        return None
    return str(getattr(plugin, "service_name", "") or "") or None


@dataclass(frozen=True)
class Service:
    name: str
    processor: str | None


def service_of(config: Config, url: str) -> Service:
    """What kind of service a destination is, from its URL's scheme alone. A reference whose
    scheme is not one Apprise knows is not named: what follows `env:` may not be a URL at all,
    and its first characters could be part of a secret."""
    scheme = _scheme(config, url)
    if scheme in SERVICES:
        name, processor = SERVICES[scheme]
        return Service(name, processor)
    known = _apprise_service(scheme) if scheme else None
    if known:
        return Service(known, f"the provider of {known}")
    if secrets.is_reference(url) or scheme is None:
        return Service(SECRET_UNSHOWN if secrets.is_reference(url) else "an unreadable URL",
                       None)
    return Service(f"an unrecognised service ({scheme}://)", None)


def _channels(config: Config, urls: Iterable[str]) -> str:
    names = list(dict.fromkeys(service_of(config, url).name for url in urls))
    return ", ".join(names) if names else "nobody: no recipient is configured"


# --- the sections ---------------------------------------------------------------------------------


def _platform_of(account: Account) -> str:
    """The platform an account's data comes from (a demo recording says which it imitates)."""
    if account.platform == "replay":
        return str(account.settings.get("as_platform", "facebook"))
    return account.platform


def _platform_label(account: Account) -> str:
    title = PLATFORM_NAMES.get(_platform_of(account), _platform_of(account))
    return f"{title} (demo recording)" if account.platform == "replay" else title


def _account_label(account: Account) -> str:
    if account.name:
        return f"{_literal(account.name)}, id {_literal(account.account)}"
    return _literal(account.account)


def _kind_words(account: Account, kind: str) -> str:
    words = KIND_WORDS.get((_platform_of(account), kind), kind.replace("_", " "))
    if kind == "search":
        keywords = account.settings.get("keywords") or ()
        keywords = [keywords] if isinstance(keywords, str) else list(keywords)
        if keywords:
            words += ": " + ", ".join(f"\u201c{_literal(k)}\u201d" for k in keywords)
    return words


def _schedule(account: Account) -> str:
    parts = []
    if any(kind != "followers" for kind in account.kinds):
        parts.append(f"read {_every(account.poll_interval)}")
    if "followers" in account.kinds:
        from monitor.followers import FollowerSettings

        interval = FollowerSettings.from_mapping(account.settings).interval
        parts.append(f"followers synced {_every(interval)}")
    return "; ".join(parts)


def _controller(config: Config) -> list[Part]:
    schools = _table(("School", "Id", "Timezone"),
                     ((_literal(s.name), s.id, config.school_timezone(s)) for s in config.schools))
    if config.trust is not None:
        lead = (f"The controller is {_literal(config.trust.name)}, the trust, for the schools "
                "below; each school's own staff act on what concerns it.")
    elif len(config.schools) == 1:
        lead = f"The controller is {_literal(config.schools[0].name)}."
    else:
        lead = "Each school below is the controller of what concerns it."
    return [Heading("1. The controller"), Paragraph(lead), schools,
            Paragraph("Data protection officer and contact for this assessment: to be completed "
                      "by the school.")]


def _watched(config: Config) -> list[Part]:
    parts: list[Part] = [Heading("2. Which accounts are watched, and which are not")]
    multi = len(config.schools) > 1
    for school in config.schools:
        if multi:
            parts.append(Heading(_literal(school.name), 3))
        on = [a for a in school.accounts if a.enabled]
        off = [a for a in school.accounts if not a.enabled]
        rows = []
        for account in on:
            what = "; ".join(_kind_words(account, kind) for kind in account.kinds)
            rows.append((_platform_label(account), _account_label(account), what,
                         _schedule(account)))
        if rows:
            parts.append(Paragraph(f"Watched for {_literal(school.name)}: the school's own "
                                   "accounts, and nothing else."))
            parts.append(_table(("Platform", "The school's account", "What is read",
                                 "How often"), rows))
        else:
            parts.append(Paragraph(f"No account of {_literal(school.name)} is watched at "
                                   "present."))
        if off:
            parts.append(Paragraph("Not watched (switched off in the configuration, nothing is "
                                   "read from them):"))
            parts.append(Bullets(tuple(f"{_platform_label(a)}: {_account_label(a)}"
                                       for a in off)))
        if any(a.platform == "replay" for a in on):
            parts.append(Paragraph("A demo recording replays saved platform answers from files "
                                   "on the server: no platform is contacted for it."))
    parts += [Heading("What is never monitored", 3), Bullets((
        "Pupils' own accounts, and staff's or parents' personal accounts: Hall Monitor reads "
        "only the school's own accounts listed above.",
        "Private or direct messages: no messaging permission is asked for and no inbox is read.",
        "Anything other than public comments and posts on the school's own accounts and public "
        "posts that mention or tag them (or, for an X search, name the school in the words "
        "listed).",
        "Private accounts, closed groups and stories, and any platform not listed above.",
    ))]
    return parts


def _collected(config: Config) -> list[Part]:
    kinds_by_platform: dict[str, set[str]] = {}
    for school in config.schools:
        for account in school.accounts:
            if account.enabled:
                kinds_by_platform.setdefault(_platform_of(account), set()).update(account.kinds)
    raw_days = config.settings.retention.raw_payload_days
    parts: list[Part] = [Heading("3. What is collected from each platform")]
    header = ("Data", "What exactly", "Why it is needed")
    for platform in sorted(kinds_by_platform, key=lambda p: PLATFORM_NAMES.get(p, p)):
        kinds = kinds_by_platform[platform]
        parts.append(Heading(PLATFORM_NAMES.get(platform, platform), 3))
        if kinds - {"followers"}:
            parts.append(_table(header, _item_rows(platform, kinds, raw_days)))
        if "followers" in kinds:
            parts.append(Paragraph("The followers of the school's X account, synced for IT's "
                                   "watchlist and follower report:"))
            parts.append(_table(header, FOLLOWER_ROWS))
    if not kinds_by_platform:
        parts.append(Paragraph("Nothing: no account is watched at present."))
    parts += [Heading("What Hall Monitor adds", 3), _table(("Data", "What exactly"), (
        ("Verdict", "the categories a comment was found to be in, with scores, reasons and the "
         "classifier's version"),
        ("Incidents", "flagged comments grouped by thread or author, with their trail: who "
         "acknowledged, hid, deleted, resolved or noted what, and when"),
        ("Alerts", "the messages sent about a comment, holding a copy of its text"),
        ("Evidence records", "for each urgent or high comment and before any is hidden or "
         "deleted: the comment as it was, with every later step, in a hash chain that shows "
         "any change"),
        ("Corrections", "staff's \u201cnot a problem\u201d and \u201cwrong category\u201d marks, "
         "which teach the school's classifier"),
        ("Watchlist", "accounts IT is concerned about, with the reason, who added them and "
         "when"),
        ("Removals", "when retention or an erasure removed data, and how much: counts only"),
    ))]
    return parts


def _purposes(config: Config) -> list[Part]:
    followers = any("followers" in a.kinds and a.enabled
                    for school in config.schools for a in school.accounts)
    purposes = [
        "Moderation: abusive, hateful or spam comments and pupils' personal details on the "
        "school's accounts reach the digital champion, who hides, deletes or blocks.",
        "Safeguarding: threats and disclosures reach the designated safeguarding lead at once, "
        "at any hour; the DSL's weekly summary lists every safeguarding incident.",
        "Reputation and communication: the head's weekly digest (volumes, praise, complaints, "
        "unanswered questions, media enquiries).",
        "Evidence: a record that stands up for the police or the LADO, kept before a comment "
        "is removed.",
        "IT's watchlist: accounts of concern, matched against who comments on, mentions or tags "
        "the school's accounts" + (", and against the school's X followers, whose new arrivals "
        "are screened" if followers else "") + ".",
    ]
    return [Heading("4. Purposes"), Bullets(tuple(purposes)), Heading("Lawful basis", 3),
            Paragraph("To be stated by the school: this description does not decide it. Schools "
                      "usually rely on public task (UK GDPR Article 6(1)(e)); legitimate "
                      "interests (Article 6(1)(f)) may be considered for what falls outside a "
                      "public task. A comment can hold special category data (health in an "
                      "absence message, a safeguarding disclosure), which needs an Article 9 "
                      "condition too, such as the safeguarding of children in the Data "
                      "Protection Act 2018, Schedule 1.")]


ROLE_TITLES = {"digital_champion": "Digital champion", "dsl": "Designated safeguarding lead",
               "head": "Headteacher", "it": "IT"}
# Alerts each role gets besides those about comments, in words.
OTHER_ALERTS = {
    "digital_champion": ("watchlist alerts when an account of concern comments, mentions or "
                         "tags the school",),
    "dsl": ("reminders of urgent incidents nobody acknowledged",),
    "head": ("reminders of urgent incidents nobody acknowledged",),
    "it": ("notices about the system (a failing source, expired credentials, alerts that "
           "could not be delivered)", "watchlist alerts"),
}
# The weekly report each role reads, when the school's digests are on.
WEEKLY = {"dsl": "the weekly safeguarding summary", "head": "the weekly digest"}


def _timing(config: Config, school: School) -> str:
    quiet = school.quiet_hours
    high = ("at once, or when quiet hours end "
            f"({quiet.start:%H:%M}\u2013{quiet.end:%H:%M})" if quiet else "at once")
    return (f"Urgent alerts go at once, at any hour; high ones {high}; normal and low ones in "
            f"one message {_every(config.daemon.batch_interval)}.")


def _told_about(school: School, role: str, followers: bool) -> str:
    """The alerts a role gets at this school: comments by severity, then everything else."""
    by_level: dict[str, list[str]] = {}
    for category in rules.categories_by_role(school).get(role, []):
        by_level.setdefault(rules.SEVERITY[category], []).append(
            CATEGORY_LABELS[category].lower())
    told = [f"{level} comments ({', '.join(by_level[level])})"
            for level in rules.SEVERITY_ORDER if level in by_level]
    told += OTHER_ALERTS[role]
    if role in WEEKLY and school.digest.enabled:
        told.append(WEEKLY[role])
    if role == "it" and followers:
        told.append("the weekly follower report")
    return "; ".join(told)


def _recipients(config: Config) -> list[Part]:
    parts: list[Part] = [Heading("5. Who receives what")]
    multi = len(config.schools) > 1
    for school in config.schools:
        if multi:
            parts.append(Heading(_literal(school.name), 3))
        followers = any("followers" in a.kinds and a.enabled for a in school.accounts)
        rows = []
        for role in ROLES:
            urls = [u for r in school.recipients if r.role == role for u in r.urls]
            rows.append((f"{ROLE_TITLES[role]} (`{role}`)",
                         _told_about(school, role, followers), _channels(config, urls)))
        parts.append(_table(("Role", "Told about", "Through"), rows))
        parts.append(Paragraph(_timing(config, school)))
    if config.trust is not None:
        urls = [u for r in config.trust.recipients for u in r.urls]
        names = [_literal(r.name) for r in config.trust.recipients if r.name]
        who = f" ({', '.join(names)})" if names else ""
        parts.append(Paragraph(f"The trust's weekly roll-up (each school's volumes and "
                               f"incidents, no comment text) goes to the trust's "
                               f"recipients{who} through: {_channels(config, urls)}."))
    parts.append(Paragraph("A channel is named by the kind of service only; addresses, tokens "
                           "and passwords are not shown here. Category names are the "
                           "classifier's: " + ", ".join(CATEGORY_LABELS[c].lower()
                                                        for c in CATEGORIES) + "."))
    if config.web.enabled:
        parts.append(Paragraph("In the staff console each member of staff sees their own "
                               "school only: the digital champion, DSL and head see incidents "
                               "with their text; IT sees sources and accounts but never what "
                               "anyone wrote; the DSL's private notes are for the DSL and the "
                               "head."))
    return parts


def _database(config: Config) -> str:
    try:
        url = make_url(config.database_url)
    except ArgumentError:
        return "a database whose address cannot be read"
    if url.get_backend_name() == "sqlite":
        return f"an SQLite database file on this server: `{_literal(url.database or '')}`"
    where = _literal(url.host or "localhost") + (f":{url.port}" if url.port else "")
    return (f"a {url.get_backend_name()} database, `{_literal(url.database or '')}` on "
            f"`{where}`")


def _stored(config: Config) -> list[Part]:
    web = config.web
    if web.enabled:
        console = (f"The staff console is on, listening on `{_literal(web.host)}:{web.port}`"
                   + (f" and reached at `{_literal(web.public_url)}`" if web.public_url else "")
                   + "; staff sign in with their own account, and each sign-in is limited to "
                   "their role.")
    else:
        console = "The staff console is off."
    items = [f"Everything collected is kept in {_database(config)}. Times are stored in UTC.",
             console,
             "Secrets (platform tokens, alert URLs with keys, passwords) are read from "
             "environment variables or files named in the configuration, never written in it "
             "or in the database."]
    for school in config.schools:
        lists = [label for label, path in (("pupils'", school.pupil_names),
                                           ("staff's", school.staff_names)) if path]
        if lists:
            items.append(f"{_literal(school.name)}: the {' and '.join(lists)} name "
                         f"list{'s are' if len(lists) > 1 else ' is'} stored and matched only "
                         "as keyed hashes (HMAC-SHA256 with a key held outside the "
                         "configuration), never as names.")
    return [Heading("6. Where it is stored"), Bullets(tuple(items))]


def _raw_kept(days: int) -> str:
    return "not kept" if days == 0 else f"{_days(days)} after collection"


def _retention(config: Config) -> list[Part]:
    kept = config.settings.retention
    flagged = _days(kept.flagged_days)
    rows = (
        ("Raw API payloads", _raw_kept(kept.raw_payload_days),
         "they hold more about people than any alert or report uses"),
        ("Text and author of comments nobody needed to act on",
         f"{_days(kept.unflagged_text_days)} after collection",
         "the rows stay without them, so the weekly digest's counts still add up"),
        ("Flagged comments, with their verdicts, the copies of their words in alerts and "
         "their evidence records' contents",
         f"{flagged} after their incident is resolved; an open incident's are kept until it "
         "is resolved; a flagged comment in no incident, from when it was written",
         "long enough for a complaint, an appeal, a subject access request or a police "
         "enquiry that follows"),
        ("Weekly reports kept in alerts (digest, DSL's summary, follower report)",
         f"{flagged} after they were sent", "they quote comments"),
        ("An incident under evidence hold, with its comments and evidence",
         "until the hold is released", "held for the police, the LADO or a legal claim"),
        ("Records of removals", "kept", "counts and times only, never what or whose"),
    )
    return [Heading("7. How long it is kept"), _table(("What", "Kept for", "Why"), rows),
            Paragraph(f"The daemon runs the retention job once a day, in batches of "
                      f"{kept.batch_size} rows; `hallmonitor retention run --dry-run` shows what "
                      "it would remove and `hallmonitor retention log` what it removed. Evidence "
                      "is never edited: its content is removed and its hashes kept, with an "
                      "entry saying why, so the chain still verifies.")]


def _processors(config: Config) -> list[Part]:
    rows: list[tuple[str, str, str]] = []
    platforms = sorted({_platform_of(a) for s in config.schools for a in s.accounts
                        if a.enabled and a.platform != "replay"})
    for platform in platforms:
        title = PLATFORM_NAMES.get(platform, platform)
        rows.append((PLATFORM_OPERATORS.get(platform, title), title,
                     "the platform the data is read from, through its API with the "
                     "school's token; moderation (hiding a comment, for example) is carried "
                     "out there"))
    urls = [u for s in config.schools for r in s.recipients for u in r.urls]
    urls += [u for r in (config.trust.recipients if config.trust else ()) for u in r.urls]
    sent = {}
    for url in urls:
        service = service_of(config, url)
        if service.processor:
            sent.setdefault((service.processor, service.name), "alerts and digests sent to "
                            "staff, which can quote a comment's text and author")
    if config.web.enabled and config.web.mail_url:
        service = service_of(config, config.web.mail_url)
        if service.processor:
            sent.setdefault((service.processor, service.name), "sign-in links emailed to staff")
    rows += [(processor[:1].upper() + processor[1:], name, what)
             for (processor, name), what in sent.items()]
    try:
        url = make_url(config.database_url)
        server = url.get_backend_name() != "sqlite"
    except ArgumentError:
        server = False
    host = ("Whoever hosts the database server" if server
            else "Whoever hosts this server (the school or its IT provider)")
    rows.append((host, "database and server", "everything listed in section 3"))
    return [Heading("8. Processors and other organisations"),
            _table(("Who", "Service", "What they handle"), rows),
            Paragraph("The classifier runs on this server: no comment is sent to an outside AI "
                      "service. A platform is the controller of its own service; the school "
                      "reads from it what is public on or about its accounts.")]


def _rights() -> list[Part]:
    return [Heading("9. How people exercise their rights"), Bullets((
        "Who does it: the school's data protection officer, with the commands below run where "
        "Hall Monitor runs (they need its configuration). The commands cannot check that the "
        "person asking is who they say they are: the DPO does. Requests are answered within "
        "one month.",
        "Right of access: `hallmonitor privacy find --author HANDLE_OR_ID [--platform P]` lists "
        "everything held about one person (what they wrote, alerts quoting them, evidence, "
        "follower and watchlist records); `hallmonitor privacy export --author HANDLE_OR_ID "
        "--out FILE.json` writes it for a subject access request, to be read and redacted "
        "before it is sent.",
        "Right to erasure: `hallmonitor privacy erase --author HANDLE_OR_ID` removes their "
        "comments with their verdicts and corrections, the copies of their text in alerts, "
        "their follower records, and the content of evidence about them (its hashes stay, so "
        "the chain still verifies). It records that an erasure happened, when, by whom and how "
        "many records, never whose or what.",
        "Exemptions: an incident under evidence hold (for the police, the LADO or a legal "
        "claim) is kept until `hallmonitor incidents release ID`, and an active watchlist entry "
        "is kept as a safeguarding record; erasure names each one it kept and why. Whether an "
        "exemption applies is the DPO's decision.",
        "A comment on a platform is also the platform's: people can ask it directly, and staff "
        "can hide or delete it there.",
    ))]


def _safeguards() -> list[Part]:
    return [Heading("10. Safeguards"), Bullets((
        "Only the school's own accounts and explicit mentions or tags of them are read; no "
        "pupil's or member of staff's own account is monitored, and no private message.",
        "Pupils' and staff's names are kept as keyed hashes, never in clear in the database or "
        "logs; matching still works.",
        "Secrets are never in the configuration file or the database, and never printed.",
        "Staff see only their own school, and only what their role needs (IT never sees what "
        "anyone wrote).",
        "Evidence is append-only and hash-chained per school: any change, deletion or "
        "reordering is detected, and `hallmonitor evidence verify` names the first broken "
        "entry.",
        "The retention job removes what is due every day (section 7) and records counts, "
        "never content.",
        "The classifier runs locally: comment text does not leave the server except in alerts "
        "to the school's own staff.",
    ))]


def document(config: Config, now: datetime | None = None) -> list[Part]:
    """The description as parts, in order."""
    now = now or datetime.now(UTC)
    source = f" ({_literal(config.path)})" if config.path else ""
    intro = Paragraph(
        f"Generated on {now.day} {now:%B %Y} from the running configuration{source} by "
        "`hallmonitor privacy describe`. It describes what this installation of Hall Monitor "
        "does with personal data, for the school's data protection impact assessment; the "
        "assessment of necessity, proportionality and risk is the school's.")
    closing = Paragraph(
        "This describes the configuration as it was when generated. Generate it again after "
        "any change to the accounts watched, the recipients or the retention settings, and "
        "review the assessment with it.", note=True)
    return [Heading(TITLE, 1), intro, *_controller(config), *_watched(config),
            *_collected(config), *_purposes(config), *_recipients(config), *_stored(config),
            *_retention(config), *_processors(config), *_rights(), *_safeguards(),
            closing]


def describe(config: Config, fmt: str = "md", *, now: datetime | None = None) -> str:
    """The DPIA description of `config`, as Markdown ("md") or a standalone HTML page
    ("html"). Raises ValueError for any other format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose md or html")
    parts = document(config, now)
    return to_markdown(parts) if fmt == "md" else to_html(parts)


# --- Markdown -------------------------------------------------------------------------------------


def _md_text(text: str) -> str:
    """Text for Markdown: a `<` outside code spans would start an HTML tag."""
    pieces = text.split("`")
    return "`".join(piece if i % 2 else piece.replace("<", "&lt;")
                    for i, piece in enumerate(pieces))


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|")


def to_markdown(parts: Sequence[Part]) -> str:
    lines: list[str] = []
    for part in parts:
        if isinstance(part, Heading):
            lines += ["#" * part.level + " " + _md_text(part.text), ""]
        elif isinstance(part, Paragraph):
            lines += (["---", ""] if part.note else []) + [_md_text(part.text), ""]
        elif isinstance(part, Bullets):
            lines += [f"- {_md_text(item)}" for item in part.items] + [""]
        else:
            lines.append("| " + " | ".join(_md_cell(h) for h in part.header) + " |")
            lines.append("|" + "---|" * len(part.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in part.rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --- HTML -----------------------------------------------------------------------------------------

STYLE = """
@page { size: A4; margin: 18mm 16mm 20mm; }
* { box-sizing: border-box; }
html { background: #eef0f3; }
body { margin: 0; font: 10.5pt/1.5 "Segoe UI", "Helvetica Neue", Arial, sans-serif;
  color: #1d232b; }
main { max-width: 190mm; margin: 24px auto; padding: 18mm 16mm; background: #fff;
  box-shadow: 0 1px 4px rgba(0, 0, 0, .15); }
header { border-bottom: 3px solid #1f4e79; margin-bottom: 14px; padding-bottom: 8px; }
.kicker { margin: 0; font-size: 9pt; letter-spacing: .08em; text-transform: uppercase;
  color: #1f4e79; font-weight: 600; }
h1 { margin: 2px 0 6px; font-size: 20pt; line-height: 1.2; color: #13293d; }
h2 { margin: 22px 0 6px; font-size: 13.5pt; color: #1f4e79; border-bottom: 1px solid #c9d3de;
  padding-bottom: 3px; break-after: avoid; }
h3 { margin: 14px 0 4px; font-size: 11pt; color: #13293d; break-after: avoid; }
p { margin: 6px 0; }
ul { margin: 6px 0; padding-left: 20px; }
li { margin: 3px 0; }
table { width: 100%; border-collapse: collapse; margin: 8px 0 10px; font-size: 9.5pt; }
th, td { text-align: left; vertical-align: top; padding: 5px 7px; border: 1px solid #c9d3de; }
th { background: #e8eef5; color: #13293d; font-weight: 600; }
tr:nth-child(even) td { background: #f7f9fb; }
tr, li { break-inside: avoid; }
thead { display: table-header-group; }
code { font: 9pt/1.4 Consolas, "DejaVu Sans Mono", monospace; background: #f1f3f6;
  padding: 0 3px; border-radius: 3px; overflow-wrap: break-word; }
td { overflow-wrap: break-word; }
td code { white-space: nowrap; }
footer { margin-top: 22px; padding-top: 8px; border-top: 1px solid #c9d3de; font-size: 9pt;
  color: #4a5663; }
@media print {
  html { background: none; }
  main { max-width: none; margin: 0; padding: 0; box-shadow: none; }
  a { color: inherit; text-decoration: none; }
}
@media (max-width: 600px) {
  main { margin: 0; padding: 14px 10px; }
  table { font-size: 9pt; }
  th, td { padding: 4px 5px; hyphens: auto; }
  td code { white-space: normal; overflow-wrap: anywhere; }
}
"""


def _html_text(text: str) -> str:
    """Escaped text, with `code` spans as <code>."""
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an unpaired backtick stays a backtick
        return html.escape(text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(pieces))


def to_html(parts: Sequence[Part]) -> str:
    title = next((p.text for p in parts if isinstance(p, Heading) and p.level == 1), TITLE)
    body: list[str] = []
    for part in parts:
        if isinstance(part, Heading):
            if part.level == 1:
                body.append('<header><p class="kicker">Data protection impact assessment</p>'
                            f"<h1>{_html_text(part.text)}</h1></header>")
            else:
                body.append(f"<h{part.level}>{_html_text(part.text)}</h{part.level}>")
        elif isinstance(part, Paragraph) and part.note:
            body.append(f"<footer><p>{_html_text(part.text)}</p></footer>")
        elif isinstance(part, Paragraph):
            body.append(f"<p>{_html_text(part.text)}</p>")
        elif isinstance(part, Bullets):
            body.append("<ul>" + "".join(f"<li>{_html_text(i)}</li>" for i in part.items)
                        + "</ul>")
        else:
            head = "".join(f"<th>{_html_text(h)}</th>" for h in part.header)
            rows = "".join("<tr>" + "".join(f"<td>{_html_text(c)}</td>" for c in row)
                           + "</tr>" for row in part.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return ("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            "<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n")
