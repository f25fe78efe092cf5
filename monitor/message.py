"""What an alert says: its title and body, composed from the item, its verdict and its incident.

Composed when the alert is written (inside the page's transaction), so what was sent is what the
outbox holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from classifiers.base import Verdict
from monitor import models, rules
from monitor.config import Config, School

EXCERPT = 600
PLATFORM_NAMES = {"facebook": "Facebook", "instagram": "Instagram", "x": "X"}


def excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compose(config: Config, school: School, item: models.Item, verdict: Verdict,
            incident: models.Incident | None, kind: str, repeat: int,
            dedupe: str) -> tuple[str, str]:
    """An alert a person can act on: what was seen, where, why, and what to do next."""
    categories = list(verdict.categories)
    top = min(categories, key=lambda c: rules.SEVERITY_ORDER.index(rules.SEVERITY[c]))
    platform = PLATFORM_NAMES.get(item.platform, item.platform)
    label = ", ".join(c.replace("_", " ") for c in categories)
    verdict_severity = rules.severity_of(categories) or "low"
    severity = verdict_severity.upper()
    if kind == "update" and incident is not None:
        title = (f"[{severity}] Pile-on on {platform}: {incident.item_count} flagged comments "
                 f"on one thread — {school.name}")
    else:
        title = f"[{severity}] {label.capitalize()} on {platform} — {school.name}"
    local = item.created_at.astimezone(ZoneInfo(config.school_timezone(school)))
    who = item.author_name or item.author_handle or "unknown author"
    if item.author_handle and item.author_handle != who:
        who += f" (@{item.author_handle})"
    why = []
    for category in categories:
        reasons = verdict.reasons.get(category) or []
        score = verdict.scores.get(category, 0.0)
        detail = "; ".join(str(r) for r in reasons[:4]) or "model score"
        why.append(f"  - {category.replace('_', ' ')} ({score:.2f}): {detail}")
    lines = [
        f"What: \"{excerpt(item.text) or '(no text)'}\"",
        f"Who: {who} — {item.kind} on {platform}, {local:%a %d %b %Y %H:%M} ({local.tzname()})",
        f"Where: {item.permalink or f'(no link: {item.platform} id {item.external_id})'}",
        "Why it was flagged:",
        *why,
    ]
    if incident is not None and incident.item_count > 1:
        lines.append(f"Incident #{incident.id}: {incident.item_count} flagged comments on this "
                     f"thread so far ({', '.join(incident.categories)}).")
    if repeat:
        lines.append(f"Repeat: this author has {repeat} other serious flagged comment"
                     f"{'s' if repeat != 1 else ''} in the last 30 days.")
    lines.append(f"Next: {rules.advice_for(categories, verdict.reasons)}")
    if incident is not None and verdict_severity == "urgent":
        lines.append(f"To acknowledge (stops reminders): hallmonitor incidents ack {incident.id}")
    if top in rules.MODERATE:
        lines.append(f"To act: hallmonitor action hide {item.id}  (or unhide, delete, block, "
                     "mute)")
    lines.append(f"Ref: {dedupe}")
    return title, "\n".join(lines)


def compose_escalation(config: Config, school: School, incident: models.Incident,
                       reasons: Mapping[str, list[str]], minutes: int,
                       dedupe: str) -> tuple[str, str]:
    """A reminder that an urgent incident has waited `minutes` unacknowledged."""
    urgent = ([c for c in incident.categories if rules.SEVERITY.get(c) == "urgent"]
              or list(incident.categories))
    title = (f"[URGENT] NOT YET ACKNOWLEDGED: incident #{incident.id} "
             f"({', '.join(incident.categories)}) — {school.name}")
    body = "\n".join([
        f"An urgent alert went out {minutes} minutes ago and nobody has acknowledged it.",
        f"Incident #{incident.id}: {incident.item_count} flagged item"
        f"{'s' if incident.item_count != 1 else ''} ({', '.join(incident.categories)}).",
        f"Next: {rules.advice_for(urgent, reasons)}",
        f"To acknowledge: hallmonitor incidents ack {incident.id}",
        f"Ref: {dedupe}",
    ])
    return title, body
