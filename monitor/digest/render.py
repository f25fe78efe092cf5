"""The weekly digests as they are sent: a title, a plain-text part, markdown for chat channels,
and an HTML email with its chart attached and shown in place by Content-ID.

Each digest is written once as a `document.Document` and rendered three ways from it, so the
text, markdown and HTML say the same things in the same order. A section with nothing to say is
left out. Everything from a platform (comment text, names, handles) stays plain text here and is
escaped by the renderer of each format.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor import email_html, incidents, links, message, notify
from monitor.config import Config
from monitor.digest import chart, content
from monitor.digest.document import (
    Block,
    Document,
    Entries,
    Entry,
    Image,
    Line,
    Link,
    Paragraph,
    Quote,
    Section,
    Strong,
    Subheading,
    Table,
    render_html,
    render_markdown,
    render_text,
)
from monitor.digest.weeks import SchoolWeek

if TYPE_CHECKING:
    from monitor.digest import trust

KINDS = ("head", "dsl", "trust")
# A long list of questions is a job for the console, not an email.
UNANSWERED_SHOWN = 10
# A head reads the digest in two minutes: a week with more incidents than this lists the first
# ones (the open ones come first) and points to the rest. The DSL's summary lists every one.
INCIDENTS_SHOWN = 20
SCHOOLS_CHART_FILE = "schools-chart.png"
NO_CATEGORY = "No category"
RETAINED_AWAY = "(its words have since been removed under the retention policy)"


@dataclass(frozen=True)
class RenderedDigest:
    kind: str  # "head", "dsl" or "trust"
    title: str
    text: str  # the plain-text part
    markdown: str  # for chat channels: the same content, the chart's numbers in words
    html: str  # a complete HTML email; images as <img src="cid:NAME">
    attachments: tuple[notify.Attachment, ...]  # the charts, each with content_id == name

    def html_with_images(self, src_for: Callable[[notify.Attachment], str]) -> str:
        """The HTML with each image's cid: address replaced by `src_for(attachment)`."""
        html = self.html
        for attachment in self.attachments:
            if attachment.content_id:
                html = html.replace(f'src="{email_html.e(attachment.cid)}"',
                                    f'src="{email_html.e(src_for(attachment))}"')
        return html

    def preview_html(self) -> str:
        """The HTML with its images inlined as data: URIs: one file that shows what is sent."""
        return self.html_with_images(_data_uri)


def _data_uri(attachment: notify.Attachment) -> str:
    encoded = base64.b64encode(attachment.data).decode("ascii")
    return f"data:{attachment.content_type};base64,{encoded}"


# --- words for dates, times and durations -------------------------------------------------------

def days_text(first: date, last: date, *, weekdays: bool = False) -> str:
    """"16 to 22 November 2026" (with weekdays: "Monday 16 to Sunday 22 November 2026"), naming
    the month or the year twice only when the week spans two."""
    def day(d: date) -> str:
        return f"{d:%A} {d.day}" if weekdays else str(d.day)

    if (first.year, first.month) == (last.year, last.month):
        return f"{day(first)} to {day(last)} {last:%B %Y}"
    if first.year == last.year:
        return f"{day(first)} {first:%B} to {day(last)} {last:%B %Y}"
    return f"{day(first)} {first:%B %Y} to {day(last)} {last:%B %Y}"


def duration_text(span: timedelta) -> str:
    """A wait as people say it: "under a minute", "12 min", "1 h 20 min", "2 days 3 h"."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return " ".join([f"{days} day{'s' if days != 1 else ''}"] + ([f"{hours} h"] if hours
                                                                       else []))
    return " ".join(([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes else []))


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def _platform(name: str) -> str:
    return message.PLATFORM_NAMES.get(name, name) if name else "an unknown platform"


def _category(name: str) -> str:
    return NO_CATEGORY if name == "none" else message.label(name)


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _title(lead: str, name: str, first: date, last: date) -> str:
    return f"{lead} - {name} - {days_text(first, last)}"


def _week_line(first: date, last: date) -> Paragraph:
    return Paragraph((days_text(first, last, weekdays=True),), "muted")


def _console_link(url: str | None) -> tuple[Paragraph, ...]:
    return (Paragraph((Link("Open this digest in the console", url),)),) if url else ()


def _footer(week_label: str, name: str) -> tuple[Paragraph, ...]:
    return (Paragraph((f"Hall Monitor weekly digest for {name}, week {week_label}.",)),)


# --- incidents ----------------------------------------------------------------------------------

def _what(line: content.IncidentLine) -> str:
    """The harm, and the categories when they say more than it does: "Hostility: Abusive"."""
    harm = incidents.HARMS.get(line.harm, line.harm).capitalize()
    labels = [message.label(c) for c in line.categories]
    extra = [label for label in labels if label.lower() != harm.lower()]
    return f"{harm}: {', '.join(extra)}" if extra else harm


def _status(line: content.IncidentLine, *, marked: bool = False) -> str:
    if line.status == "resolved":
        return "resolved"
    if line.acknowledged_by is None:
        return "still open" if marked else "still open, nobody has acknowledged it"
    return "acknowledged, still open"


def _incident_entry(line: content.IncidentLine, config: Config, timezone: str, *,
                    mark_unacknowledged: bool = False) -> Entry:
    marked = (mark_unacknowledged and line.acknowledged_by is None
              and line.status == "open")
    first: list = [Strong(line.severity, badge=line.severity), " ", Strong(_what(line)),
                   f" - {_status(line, marked=marked)}"]
    if marked:
        first = [Strong("not yet acknowledged", badge="urgent"), " ", *first]
    rest: list[Line | Quote] = [Quote(line.excerpt) if line.excerpt else (RETAINED_AWAY,)]
    rest.append((f"{_plural(line.item_count, 'comment')} on {_platform(line.platform)}, "
                 f"first on {_when(line.opened_at, timezone)}",))
    if line.status == "resolved":
        outcome = line.outcome or "no outcome recorded"
        rest.append(("Outcome: ", f"{outcome}, by {line.resolved_by}" if line.resolved_by
                     else outcome))
    else:
        rest.append(("Outcome: not resolved yet",))
    if line.time_to_acknowledge is not None:
        by = f" (by {line.acknowledged_by})" if line.acknowledged_by else ""
        rest.append((f"Time to acknowledge: {duration_text(line.time_to_acknowledge)}{by}",))
    else:
        rest.append(("Time to acknowledge: not acknowledged",))
    rest.append(_incident_link(line, config))
    return Entry(tuple(first), tuple(rest))


def _incident_link(line: content.IncidentLine, config: Config) -> Line:
    if config.web.enabled:
        return (Link(f"Open incident #{line.id} in the console",
                     links.incident_url(config, line.id)),)
    if message.is_web_link(line.permalink):
        return (Link(f"Open the comment on {_platform(line.platform)}", line.permalink),
                f" (incident #{line.id})")
    return (f"Incident #{line.id}: hallmonitor incidents show {line.id}",)


def _incidents_section(lines: Sequence[content.IncidentLine], config: Config,
                       timezone: str) -> Section | None:
    if not lines:
        return None
    still_open = sum(1 for line in lines if line.still_open)
    intro = (f"{_plural(len(lines), 'incident')}, {still_open} still open (listed first)."
             if still_open else f"{_plural(len(lines), 'incident')}, all resolved.")
    shown = lines[:INCIDENTS_SHOWN]
    blocks: list[Block] = [
        Paragraph((intro,), "muted"),
        Entries(tuple(_incident_entry(line, config, timezone) for line in shown), numbered=True)]
    if len(lines) > len(shown):
        rest = ("in the console's queue" if config.web.enabled
                else "with 'hallmonitor incidents list'")
        blocks.append(Paragraph((f"and {len(lines) - len(shown)} more, {rest}",)))
    return Section("Incidents that needed action", tuple(blocks))


# --- media enquiries ----------------------------------------------------------------------------

def _media_section(media: Sequence[content.MediaEnquiry], timezone: str) -> Section | None:
    if not media:
        return None
    entries = []
    for enquiry in media:
        did = ["replied in the thread" if enquiry.replied else "no reply in the thread yet"]
        did += [action.replace("_", " ") for action in enquiry.actions]
        if enquiry.outcome:
            did.append(f"outcome: {enquiry.outcome}")
        entries.append(Entry(
            (Strong(enquiry.author),
             f" on {_platform(enquiry.platform)}, {_when(enquiry.created_at, timezone)}"),
            (Quote(enquiry.excerpt) if enquiry.excerpt else (RETAINED_AWAY,),
             (f"What the school did: {'; '.join(did)}",),
             (Link(f"Open it on {_platform(enquiry.platform)}", enquiry.permalink),))))
    return Section("Media enquiries", (Entries(tuple(entries)),))


# --- volumes ------------------------------------------------------------------------------------

def chart_volumes(volumes: content.Volumes) -> chart.Volumes:
    """The week's volumes as the chart shows them: platforms and categories by display name."""
    return chart.Volumes(
        platforms={_platform(v.name): (v.this_week, v.average) for v in volumes.platforms},
        categories={_category(v.name): (v.this_week, v.average) for v in volumes.categories})


def _volume_table(first: str, rows: Iterable[content.Volume], name: Callable[[str], str]
                  ) -> Table:
    return Table((first, "This week", "Average"),
                 tuple((name(v.name), f"{v.this_week:,}", chart.number(v.average))
                       for v in rows), caption=f"By {first.lower()}")


def _volumes_section(volumes: content.Volumes | None, total: int
                     ) -> tuple[Section | None, notify.Attachment | None]:
    if volumes is None:
        return None, None
    drawn = chart_volumes(volumes)
    png = chart.volume_chart(drawn)
    attachment = notify.Attachment(chart.CHART_FILE, "image/png", png,
                                   content_id=chart.CHART_FILE)
    average = sum(v.average for v in volumes.platforms)
    blocks: list[Block] = [
        Paragraph((f"{_plural(total, 'comment')} this week, against a weekly average of "
                   f"{chart.number(average)} over the previous four weeks.",)),
        Image(attachment.cid, attachment.name, chart.chart_alt_text(drawn),
              chart.DISPLAY_WIDTH)]
    if volumes.platforms:
        blocks.append(_volume_table("Platform", volumes.platforms, _platform))
    if volumes.categories:
        blocks.append(_volume_table("Category", volumes.categories, _category))
    return Section("Volume against the previous four weeks", tuple(blocks)), attachment


# --- praise and complaints ----------------------------------------------------------------------

def _standouts(found: Sequence[content.Standout]) -> Entries:
    entries = []
    for standout in found:
        rest: list[Line | Quote] = []
        for example in standout.examples:
            rest.append(Quote(example.text))
            rest.append((f"— {example.author}, ", Link("open the comment", example.permalink)))
        entries.append(Entry(
            (Strong(f"“{standout.phrase}”"),
             f" - {_plural(standout.count, 'time')} this week, {standout.earlier} in the "
             "previous four weeks"),
            tuple(rest)))
    return Entries(tuple(entries))


def _feelings_section(feelings: content.Feelings | None) -> Section | None:
    if feelings is None:
        return None
    blocks: list[Block] = []
    if feelings.praise:
        blocks += [Subheading("Praised"), _standouts(feelings.praise)]
    if feelings.complaints:
        blocks += [Subheading("Complained about"), _standouts(feelings.complaints)]
    return Section("What people praised and complained about", tuple(blocks)) if blocks else None


# --- unanswered questions -----------------------------------------------------------------------

def _unanswered_section(questions: Sequence[content.Question], timezone: str
                        ) -> Section | None:
    if not questions:
        return None
    shown = questions[:UNANSWERED_SHOWN]
    blocks: list[Block] = [
        Paragraph((f"{_plural(len(questions), 'question')} with no reply from the school's own "
                   "account in the thread within 48 hours.",), "muted"),
        Entries(tuple(Entry(
            (Strong(q.author), f" on {_platform(q.platform)}, {_when(q.created_at, timezone)}"),
            (Quote(q.excerpt) if q.excerpt else (RETAINED_AWAY,),
             (Link(f"Open it on {_platform(q.platform)}", q.permalink),)))
            for q in shown))]
    if len(questions) > len(shown):
        blocks.append(Paragraph((f"and {len(questions) - len(shown)} more",)))
    return Section("Questions left unanswered", tuple(blocks))


# --- connector health and cost ------------------------------------------------------------------

def _followers_line(followers: dict | None) -> Paragraph | None:
    """"Followers on X: 42 new, 3 left, 2 of concern (see IT's follower report)"."""
    if followers is None:
        return None
    where = " and ".join(_platform(p) for p in followers.get("platforms", ())) or "social media"
    return Paragraph((f"Followers on {where}: {followers['new']} new, {followers['lost']} left, "
                      f"{followers['of_concern']} of concern (see IT's follower report)",))


def _health_section(health: content.Health | None,
                    followers: dict | None = None) -> Section | None:
    follower_line = _followers_line(followers)
    if health is None and follower_line is None:
        return None
    blocks: list[Block] = [follower_line] if follower_line is not None else []
    if health is None:
        return Section("Connectors and cost", tuple(blocks))
    if health.sources:
        entries = []
        for source in health.sources:
            said = []
            if source.paused:
                said.append(f"paused: {source.paused_reason or 'no reason recorded'}")
            if source.failed_polls:
                said.append(f"{source.failed_polls} of {_plural(source.polls, 'poll')} failed")
            if source.last_error:
                said.append(f"last error: {source.last_error}")
            entries.append(Entry((Strong(source.name or source.account),
                                  f" ({_platform(source.platform)})"), (("; ".join(said),),)))
        blocks += [Subheading("Sources failing or paused this week"), Entries(tuple(entries))]
    if health.costs:
        blocks.append(Table(("Platform", "Estimated cost a month"),
                            tuple((_platform(c.platform), c.monthly_text())
                                  for c in health.costs),
                            caption="Estimated platform cost"))
    return Section("Connectors and cost", tuple(blocks)) if blocks else None


# --- the three digests --------------------------------------------------------------------------

def _rendered(kind: str, document: Document,
              attachments: Iterable[notify.Attachment | None]) -> RenderedDigest:
    return RenderedDigest(kind=kind, title=document.title, text=render_text(document),
                          markdown=render_markdown(document), html=render_html(document),
                          attachments=tuple(a for a in attachments if a is not None))


def render_head(digest: content.HeadDigest, config: Config, week: SchoolWeek, *,
                short: bool = False) -> RenderedDigest:
    """The head's weekly digest. `short` (a holiday week with something flagged) keeps only the
    week, the headline, the incidents and the media enquiries."""
    tz = week.timezone
    lead: list[Block] = [_week_line(week.first_day, week.last_day),
                         Paragraph((digest.headline + ".",), "lead")]
    if short:
        lead.append(Paragraph(("A holiday week: only what needed action is shown.",), "muted"))
    lead += _console_link(links.digest_url(config, digest.school_id, week.label, "head"))
    sections = [_incidents_section(digest.incidents, config, tz),
                _media_section(digest.media, tz)]
    attachment = None
    if not short:
        volumes, attachment = _volumes_section(digest.volumes, digest.total)
        sections += [volumes, _feelings_section(digest.feelings),
                     _unanswered_section(digest.unanswered, tz),
                     _health_section(digest.health, digest.followers)]
    document = Document(
        _title("Weekly digest", digest.school_name, week.first_day, week.last_day), tuple(lead),
        tuple(s for s in sections if s is not None), _footer(week.label, digest.school_name))
    return _rendered("head", document, [attachment])


def render_dsl(summary: content.DslSummary, config: Config, week: SchoolWeek) -> RenderedDigest:
    """The DSL's weekly summary: every safeguarding and threat incident, the unacknowledged ones
    first and marked, and authors seen in more than one; or one line saying there were none."""
    title = _title("Weekly safeguarding summary", summary.school_name, week.first_day,
                   week.last_day)
    lead: list[Block] = [_week_line(week.first_day, week.last_day)]
    if not summary.incidents:
        lead.append(Paragraph(("No safeguarding or threat incidents this week.",), "lead"))
        document = Document(title, tuple(lead), (), _footer(week.label, summary.school_name))
        return _rendered("dsl", document, [])
    waiting = set(summary.unacknowledged)
    lead.append(Paragraph((
        f"{_plural(len(summary.incidents), 'safeguarding or threat incident')}, "
        + (f"{len(waiting)} not yet acknowledged." if waiting else "all acknowledged."),),
        "lead"))
    lead += _console_link(links.digest_url(config, summary.school_id, week.label, "dsl"))
    ordered = sorted(summary.incidents, key=lambda line: line.id not in waiting)
    sections = [Section("Safeguarding and threat incidents", (Entries(tuple(
        _incident_entry(line, config, week.timezone, mark_unacknowledged=True)
        for line in ordered), numbered=True),))]
    if summary.repeat_authors:
        sections.append(Section("Authors seen in more than one incident", (Entries(tuple(
            _repeat_author(author, config) for author in summary.repeat_authors)),)))
    document = Document(title, tuple(lead), tuple(sections),
                        _footer(week.label, summary.school_name))
    return _rendered("dsl", document, [])


def _repeat_author(author: content.RepeatAuthor, config: Config) -> Entry:
    who = message.who_wrote({"author_name": author.name, "author_handle": author.handle})
    ids = ", ".join(f"#{n}" for n in author.incident_ids)
    rest: tuple[Line, ...] = ()
    if config.web.enabled:
        rest = tuple((Link(f"Open incident #{n} in the console", links.incident_url(config, n)),)
                     for n in author.incident_ids)
    return Entry((Strong(who), f" on {_platform(author.platform)}: incidents {ids}"), rest)


def render_trust(rollup: trust.TrustDigest, config: Config, week_label: str) -> RenderedDigest:
    """A trust's roll-up: the schools needing attention first, a table of every school, and
    each school's volumes as small multiples."""
    lead: list[Block] = [_week_line(rollup.first_day, rollup.last_day),
                         Paragraph((rollup.headline.rstrip(".") + ".",), "lead")]
    lead += _console_link(links.digest_url(config, None, week_label, "trust"))
    sections: list[Section] = []
    if rollup.needs_attention:
        sections.append(Section("Needs attention first", (Entries(tuple(
            Entry((Strong(row.school_name), ": " + "; ".join(row.attention)))
            for row in rollup.needs_attention)),)))
    if rollup.schools:
        sections.append(Section("Schools", (Table(
            ("School", "Comments", "Average", "Incidents", "Open", "Unanswered"),
            tuple((row.school_name, f"{row.total:,}", chart.number(row.average),
                   _severities(row.incidents), f"{row.open_incidents:,}",
                   f"{row.unanswered:,}") for row in _attention_first(rollup)),
            stacked=True),)))
    multiples = _small_multiples(rollup)
    if multiples is not None:
        sections.append(Section("Comments per school", (
            Paragraph(("Each school's comments per platform this week against its weekly "
                       "average over the previous four weeks, all on one scale.",), "muted"),
            Image(multiples.cid, multiples.name, _multiples_alt(rollup),
                  chart.DISPLAY_WIDTH))))
    document = Document(_title("Trust weekly roll-up", rollup.trust_name, rollup.first_day,
                               rollup.last_day), tuple(lead), tuple(sections),
                        _footer(week_label, rollup.trust_name))
    return _rendered("trust", document, [multiples])


def _severities(counts: dict[str, int]) -> str:
    shown = [f"{counts[s]} {s}" for s in ("urgent", "high", "normal") if counts.get(s)]
    return ", ".join(shown) or "none"


def _attention_first(rollup: trust.TrustDigest) -> list:
    needing = [row.school_id for row in rollup.needs_attention]
    return sorted(rollup.schools, key=lambda row: (row.school_id not in needing,
                                                   needing.index(row.school_id)
                                                   if row.school_id in needing else 0))


def _small_multiples(rollup: trust.TrustDigest) -> notify.Attachment | None:
    per_school = {row.school_name: chart.Volumes(
        platforms={_platform(v.name): (v.this_week, v.average) for v in row.volumes.platforms},
        categories={}) for row in _attention_first(rollup) if row.volumes is not None}
    if not per_school:
        return None
    return notify.Attachment(SCHOOLS_CHART_FILE, "image/png", chart.small_multiples(per_school),
                             content_id=SCHOOLS_CHART_FILE)


def _multiples_alt(rollup: trust.TrustDigest) -> str:
    parts = []
    for row in _attention_first(rollup):
        if row.volumes is not None:
            parts.append(f"{row.school_name} {row.total} (average {chart.number(row.average)})")
    return ("Comments per school this week against the weekly average of the previous four "
            "weeks: " + "; ".join(parts) + ".")
