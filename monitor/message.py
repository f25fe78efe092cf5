"""What an alert says: its parts, title and plain-text body, composed from the item, its verdict
and its incident; and the same parts as text or markdown for each kind of channel (the HTML email
is `monitor.email_html`).

Composed when the alert is written (inside the page's transaction), so what was sent is what the
outbox holds. The parts are kept as `Alert.details` (JSON), so that at send time every channel
gets a body in its own format, and the delivery's roles can be named ("For: designated
safeguarding lead"). Everything from the platform (text, names, handles, links) is kept as
written here and escaped by each renderer for its format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, object_session

from classifiers.base import Verdict
from monitor import links, models, rules
from monitor.actions import available_actions
from monitor.config import Config, School

EXCERPT = 600
PLATFORM_NAMES = {"facebook": "Facebook", "instagram": "Instagram", "x": "X"}
CATEGORY_LABELS = {
    "threat": "Threat", "safeguarding": "Safeguarding", "hateful": "Hateful",
    "abusive": "Abusive", "personal_data": "Personal data", "disparaging": "Disparaging",
    "media": "Media enquiry", "absence": "Absence", "question": "Question", "praise": "Praise",
    "spam": "Spam",
}
ROLE_NAMES = {"dsl": "designated safeguarding lead", "head": "headteacher",
              "digital_champion": "digital champion", "it": "IT contact"}
# What an alert offers to do about a new item ("unhide" is an undo: the console offers it later).
ACTION_LABELS = {"hide": "Hide it", "delete": "Delete it", "block": "Block the author",
                 "mute": "Mute the author"}
ACK_LABEL = "Acknowledge (opens a confirmation page)"
CAMPAIGN_PREFIX = "campaign:"


def excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category.replace("_", " ").capitalize())


def role_names(roles: Iterable[str]) -> str:
    return ", ".join(ROLE_NAMES.get(r, r.replace("_", " ")) for r in dict.fromkeys(roles))


def is_web_link(url: str | None) -> bool:
    """Only an http(s) address with nothing odd in it is ever made a link."""
    return bool(url) and re.fullmatch(r"https?://[^\s<>\"'`\\]+", url, re.IGNORECASE) is not None


def title_for(severity: str, categories: Sequence[str], school: str, platform: str,
              what: str = "") -> str:
    """`[URGENT] Threat - Oakfield Primary - Facebook`, then what kind of alert it is if not a
    first one (a pile-on, a reminder)."""
    lead = label(rules.by_severity(categories)[0]) if rules.by_severity(categories) else "Alert"
    title = f"[{severity.upper()}] {lead} - {school} - {platform}"
    return f"{title} - {what}" if what else title


@dataclass(frozen=True)
class Composed:
    """An alert as composed: its title, its plain-text body, and its parts for the other
    formats (stored as `Alert.details`)."""

    title: str
    body: str
    details: dict[str, Any]


# --- composing ----------------------------------------------------------------------------------

def compose(config: Config, school: School, item: models.Item, verdict: Verdict,
            incident: models.Incident | None, kind: str, repeat: int,
            dedupe: str, *, watch_note: str = "") -> Composed:
    """An alert a person can act on: what was seen, who wrote it, when, where, why, what to do
    next, and where to do it. `watch_note` says the author is on IT's watchlist, and why."""
    session = object_session(item)
    categories = rules.by_severity(verdict.categories)
    severity = rules.severity_of(categories) or "low"
    platform = PLATFORM_NAMES.get(item.platform, item.platform)
    details = _base(config, school, item, kind, severity, categories, dedupe)
    details["reasons"] = [
        {"category": c, "label": label(c), "score": round(float(verdict.scores.get(c, 0.0)), 2),
         "why": rules.readable_reasons(verdict.reasons.get(c) or (), verdict.scores.get(c, 0.0))}
        for c in categories]
    details["advice"] = rules.advice_steps(categories, verdict.reasons)
    details["incident"] = _incident_part(config, session, incident)
    details["actions"] = _actions(config, session, item, categories, incident)
    notes = []
    if incident is not None and details["incident"]["campaign"]:
        notes.append(f"Campaign: one author's hostile comments across several threads, "
                     f"{incident.item_count} flagged so far, kept together as incident "
                     f"#{incident.id}.")
    elif kind == "update" and incident is not None:
        notes.append(f"Pile-on: {incident.item_count} flagged comments on one thread so far "
                     f"({_labels(incident.categories)}). "
                     "This is the latest; the rest are in the incident.")
    elif incident is not None and incident.item_count > 1:
        notes.append(f"Incident #{incident.id}: {incident.item_count} flagged comments on this "
                     f"thread so far ({_labels(incident.categories)}).")
    if repeat:
        notes.append(f"Repeat: this author has {repeat} other serious flagged comment"
                     f"{'s' if repeat != 1 else ''} in the last 30 days.")
    if watch_note:
        notes.insert(0, watch_note)
    details["notes"] = notes
    what = ""
    if incident is not None and details["incident"]["campaign"]:
        what = f"campaign: {incident.item_count} flagged comments by one author across threads"
    elif kind == "update" and incident is not None:
        what = f"pile-on: {incident.item_count} flagged comments on one thread"
    title = title_for(severity, categories, school.name, platform, what)
    details["title"] = title
    return Composed(title, render_text(details), details)


def compose_escalation(config: Config, school: School, incident: models.Incident,
                       reasons: Mapping[str, list[str]], minutes: int,
                       dedupe: str) -> Composed:
    """A reminder that an urgent incident has waited `minutes` unacknowledged: the comment
    again, why, what to do, the link, and how long it has waited."""
    session = object_session(incident)
    urgent = ([c for c in incident.categories if rules.SEVERITY.get(c) == "urgent"]
              or list(incident.categories))
    categories = rules.by_severity(urgent)
    item = _leading_item(session, incident)
    waited = f"waiting {_minutes(minutes)}"
    platform = PLATFORM_NAMES.get(item.platform, item.platform) if item else "-"
    if item is not None:
        details = _base(config, school, item, "escalation", "urgent", categories, dedupe)
    else:
        details = {"kind": "escalation", "severity": "urgent", "categories": categories,
                   "school": school.name, "school_id": school.id, "platform": platform,
                   "item": None, "when": None, "ref": dedupe}
    scores = (item.verdict.scores if item is not None and item.verdict is not None else {}) or {}
    details["reasons"] = [
        {"category": c, "label": label(c), "score": round(float(scores.get(c, 0.0)), 2),
         "why": rules.readable_reasons(reasons.get(c) or (), scores.get(c, 0.0))}
        for c in categories]
    details["advice"] = rules.advice_steps(categories, reasons)
    details["incident"] = _incident_part(config, session, incident)
    details["actions"] = (_actions(config, session, item, categories, incident)
                          if item is not None else [])
    details["waiting_minutes"] = minutes
    details["notes"] = [
        f"Not yet acknowledged: an urgent alert went out {_minutes(minutes)} ago and nobody "
        "has acknowledged it.",
        f"Incident #{incident.id}: {incident.item_count} flagged item"
        f"{'s' if incident.item_count != 1 else ''} "
        f"({_labels(incident.categories)}).",
    ]
    title = title_for("urgent", categories, school.name, platform,
                      f"NOT YET ACKNOWLEDGED ({waited})")
    details["title"] = title
    return Composed(title, render_text(details), details)


def _labels(categories: Iterable[str]) -> str:
    return ", ".join(label(c) for c in rules.by_severity(categories))


def _minutes(minutes: int) -> str:
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _base(config: Config, school: School, item: models.Item, kind: str, severity: str,
          categories: list[str], dedupe: str) -> dict[str, Any]:
    timezone = config.school_timezone(school)
    local = item.created_at.astimezone(ZoneInfo(timezone))
    return {
        "kind": kind,
        "severity": severity,
        "categories": categories,
        "school": school.name,
        "school_id": school.id,
        "platform": PLATFORM_NAMES.get(item.platform, item.platform),
        "item": {"id": item.id, "kind": item.kind, "text": excerpt(item.text),
                 "author_name": item.author_name, "author_handle": item.author_handle,
                 "permalink": item.permalink, "external_id": item.external_id},
        "when": {"utc": item.created_at.astimezone(UTC).isoformat(),
                 "local": f"{local:%a %d %b %Y %H:%M} ({local.tzname()})",
                 "timezone": timezone},
        "ref": dedupe,
    }


def _incident_part(config: Config, session: Session | None,
                   incident: models.Incident | None) -> dict[str, Any] | None:
    if incident is None:
        return None
    part: dict[str, Any] = {
        "id": incident.id, "item_count": incident.item_count,
        "categories": rules.by_severity(incident.categories),
        "campaign": (incident.key or "").startswith(CAMPAIGN_PREFIX),
        "url": None, "ack_url": None,
        "ack_command": f"hallmonitor incidents ack {incident.id}",
    }
    if config.web.enabled:
        part["url"] = links.incident_url(config, incident.id)
        if session is not None:
            part["ack_url"] = links.ack_url(config, session, incident.id)
    return part


def supported_actions(session: Session | None, item: models.Item) -> tuple[str, ...]:
    """The moderation actions the item's platform allows on it (as the console offers them);
    none without a session to find its source. Undoing (unhide) is left to the console."""
    if session is None:
        return ()
    return tuple(a for a in available_actions(session, item) if a in ACTION_LABELS)


def _actions(config: Config, session: Session | None, item: models.Item,
             categories: list[str], incident: models.Incident | None) -> list[dict[str, Any]]:
    if not any(c in rules.MODERATE for c in categories):
        return []
    page = None
    if config.web.enabled and incident is not None:
        page = links.incident_url(config, incident.id) + f"#item-{item.id}"
    return [{"action": action, "label": ACTION_LABELS[action], "url": page,
             "command": f"hallmonitor action {action} {item.id}"}
            for action in supported_actions(session, item)]


def _leading_item(session: Session | None, incident: models.Incident) -> models.Item | None:
    """The comment a reminder repeats (see `incidents.leading_items`)."""
    from monitor import incidents  # it builds on this module

    if session is None:
        return None
    return incidents.leading_items(session, [incident]).get(incident.id)


# --- rendering: plain text and markdown ---------------------------------------------------------

def who_wrote(item: Mapping[str, Any]) -> str:
    name = item.get("author_name") or ""
    handle = item.get("author_handle") or ""
    who = name or (f"@{handle}" if handle else "unknown author")
    if name and handle and handle != name:
        who += f" (@{handle})"
    return who


def no_link(details: Mapping[str, Any]) -> str:
    return f"(no link: {details['platform']} id {details['item']['external_id']})"


def render_text(details: Mapping[str, Any], roles: Iterable[str] = ()) -> str:
    """The alert as plain text, one fact per line: the email's text part, and every channel
    that shows text."""
    lines = []
    if roles:
        lines.append(f"For: {role_names(roles)}")
    item, when = details.get("item"), details.get("when")
    if item:
        lines.append(f"What: \"{item['text'] or '(no text)'}\"")
        lines.append(f"Who: {who_wrote(item)} — {item['kind']} on {details['platform']}")
    if when:
        lines.append(f"When: {when['local']}")
    if item:
        lines.append(f"Where: {item.get('permalink') or no_link(details)}")
    lines.append("Why it was flagged:")
    for reason in details.get("reasons") or ():
        lines.append(f"  - {reason['label']} (score {reason['score']:.2f}): "
                     f"{'; '.join(reason['why'])}")
    lines.extend(details.get("notes") or ())
    lines.append("What to do next:")
    lines.extend(f"  {n}. {step}" for n, step in enumerate(details.get("advice") or (), 1))
    actions = details.get("actions") or ()
    if actions:
        lines.append("Actions:")
        for action in actions:
            lines.append(f"  - {action['label']}: {action['url']}" if action["url"]
                         else f"  - {action['command']}")
    incident = details.get("incident")
    if incident:
        if incident["url"]:
            lines.append(f"Incident #{incident['id']}: {incident['url']}")
        if incident["ack_url"]:
            lines.append(f"{ACK_LABEL}: {incident['ack_url']}")
        else:
            lines.append(f"To acknowledge: {incident['ack_command']}")
    lines.append(f"Ref: {details['ref']}")
    return "\n".join(lines)


# Characters that make markdown (a link, an image, a tag, emphasis, code, a heading); CommonMark
# lets any ASCII punctuation be backslash-escaped, so escaping them shows them as written. "://"
# and "www." are escaped too, so an address in a name is not turned into a link.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~&])")
_MD_AUTOLINK = re.compile(r"(?i)(://|\bwww\.)")


def md_escape(text: str) -> str:
    """Text from the platform (or quoting it) made inert in markdown, on one line."""
    flat = _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return _MD_AUTOLINK.sub(lambda m: m.group(1).replace(":", "\\:").replace(".", "\\."),
                            flat)


def md_quote(text: str) -> str:
    """Comment text as a fenced code block: shown exactly as written, inert in every markdown
    renderer (no links, images or HTML), whatever backticks it holds."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}\n{text}\n{fence}"


def md_link(text: str, url: str | None) -> str:
    return f"[{md_escape(text)}](<{url}>)" if is_web_link(url) else md_escape(text)


def render_markdown(details: Mapping[str, Any], roles: Iterable[str] = ()) -> str:
    """The alert as markdown for chat channels (Teams, Slack, Discord, ntfy with markdown,
    Telegram), with the comment in an inert code block and every platform value escaped."""
    out: list[str] = []
    if roles:
        out.append(f"**For:** {md_escape(role_names(roles))}")
    item, when = details.get("item"), details.get("when")
    if item:
        out.append("**What was seen:**")
        out.append(md_quote(item["text"] or "(no text)"))
        out.append(f"**Who:** {md_escape(who_wrote(item))} — {md_escape(item['kind'])} on "
                   f"{md_escape(details['platform'])}")
    if when:
        out.append(f"**When:** {when['local']}")
    if item:
        permalink = item.get("permalink") or ""
        where = (md_link(f"Open the {item['kind']} on {details['platform']}", permalink)
                 if is_web_link(permalink) else md_escape(permalink or no_link(details)))
        out.append(f"**Where:** {where}")
    out.append("**Why it was flagged:**")
    out.append("\n".join(f"- {r['label']} (score {r['score']:.2f}): "
                         f"{md_escape('; '.join(r['why']))}"
                         for r in details.get("reasons") or ()) or "-")
    for note in details.get("notes") or ():
        out.append(f"**{md_escape(note.split(':', 1)[0])}:** {md_escape(note.split(':', 1)[-1])}"
                   if ":" in note else md_escape(note))
    out.append("**What to do next:**")
    out.append("\n".join(f"{n}. {step}"
                         for n, step in enumerate(details.get("advice") or (), 1)))
    actions = details.get("actions") or ()
    if actions:
        out.append("**Actions:** " + " · ".join(
            md_link(a["label"], a["url"]) if a["url"] else f"`{a['command']}`" for a in actions))
    incident = details.get("incident")
    if incident:
        if incident["url"]:
            out.append(f"**Incident #{incident['id']}:** "
                       f"{md_link('Open it in the console', incident['url'])}")
        if incident["ack_url"]:
            out.append(md_link(ACK_LABEL, incident["ack_url"]))
        else:
            out.append(f"**To acknowledge:** `{incident['ack_command']}`")
    out.append(f"Ref: `{details['ref']}`")
    return "\n\n".join(out)
