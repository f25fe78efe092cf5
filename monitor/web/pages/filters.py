"""Words and times for the templates: labels for the codes stored in the database, times in the
school's timezone, and links to platforms only when they are plain web addresses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.message import PLATFORM_NAMES
from monitor.web.pages import pages

SEVERITY_LABELS = {"urgent": "Urgent", "high": "High", "normal": "Normal", "low": "Low"}
STATUS_LABELS = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
ACTION_LABELS = {
    "acknowledge": "Acknowledged",
    "resolve": "Resolved",
    "reopen": "Reopened",
    "note": "Note",
    "hold": "Evidence hold",
    "release": "Hold released",
    "correct": "Feedback",
    "hide": "Hide",
    "unhide": "Unhide",
    "delete": "Delete",
    "block": "Block author",
    "mute": "Mute author",
}
DEFAULT_HARMS = {"safeguarding": "Safeguarding", "threat": "Threat",
                 "personal_data": "Personal data", "hostility": "Hostility"}


def _words(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _first_upper(text: str) -> str:
    # Not str.capitalize(): that would turn "the LADO" into "the lado".
    return text[:1].upper() + text[1:]


def harm_labels() -> dict[str, str]:
    """The kinds of harm with their labels, from `monitor.incidents` when it names them."""
    from monitor import incidents

    harms = getattr(incidents, "HARMS", None)
    if isinstance(harms, Mapping):
        return {str(k): _first_upper(str(v)) for k, v in harms.items()}
    if harms:
        return {str(h): DEFAULT_HARMS.get(str(h), _words(str(h))) for h in harms}
    return dict(DEFAULT_HARMS)


def outcome_labels() -> dict[str, str]:
    from monitor import incidents

    outcomes = getattr(incidents, "OUTCOMES", None) or {}
    if isinstance(outcomes, Mapping):
        return {str(k): _first_upper(str(v)) for k, v in outcomes.items()}
    return {str(o): _words(str(o)) for o in outcomes}


@pages.app_template_filter("local_time")
def local_time(value: datetime | None, timezone: str = "Europe/London") -> str:
    """"Fri 4 Dec 2026, 07:05 GMT": the day is spelled out, because a phone shows no calendar
    beside it."""
    if value is None:
        return "never"
    try:
        zone = ZoneInfo(timezone or "Europe/London")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


@pages.app_template_filter("iso_time")
def iso_time(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@pages.app_template_filter("platform_name")
def platform_name(code: str) -> str:
    return PLATFORM_NAMES.get(code, _words(code))


@pages.app_template_filter("category_label")
def category_label(code: str) -> str:
    return _words(code)


@pages.app_template_filter("severity_label")
def severity_label(code: str) -> str:
    return SEVERITY_LABELS.get(code, _words(code))


@pages.app_template_filter("status_label")
def status_label(code: str) -> str:
    return STATUS_LABELS.get(code, _words(code))


@pages.app_template_filter("harm_label")
def harm_label(code: str) -> str:
    return harm_labels().get(code, _words(code))


@pages.app_template_filter("outcome_label")
def outcome_label(code: str | None) -> str:
    return outcome_labels().get(code, _words(code)) if code else ""


@pages.app_template_filter("action_label")
def action_label(code: str) -> str:
    return ACTION_LABELS.get(code, _words(code))


@pages.app_template_filter("web_link")
def web_link(url: str | None) -> str:
    """The address if it is an http(s) link to somewhere, else "": a platform's permalink is
    untrusted, and a javascript: or data: address must never become a link."""
    if not url:
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return url
