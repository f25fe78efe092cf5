"""Alerts as HTML email: one column of tables with inline styles, the layout that Outlook (Word's
renderer), Gmail (which drops <style> blocks in some views) and phone mail apps all show the same.

Everything from the platform (comment text, names, handles, links) and every reason quoting it is
escaped; a link is only made of an http(s) address. The text part of the email is the alert's own
plain text (`message.render_text`), not a conversion of this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from monitor import message

FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
TEXT = "#1f2937"
MUTED = "#4b5563"
# Header colours by severity, each with white text at WCAG AA contrast or better.
SEVERITY_COLOURS = {"urgent": "#b91c1c", "high": "#b45309", "normal": "#1d4ed8",
                    "low": "#374151"}
BUTTON = "#1d4ed8"


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def link(text: str, url: str | None) -> str:
    if not message.is_web_link(url):
        return e(text)
    return (f'<a href="{e(url)}" style="color:{BUTTON};text-decoration:underline;">'
            f"{e(text)}</a>")


def button(text: str, url: str, colour: str = BUTTON) -> str:
    """A link styled as a button in a table cell, so Outlook shows its colour too."""
    return (f'<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
            f'style="display:inline-table;margin:0 8px 8px 0;"><tr>'
            f'<td bgcolor="{colour}" style="background:{colour};border-radius:6px;">'
            f'<a href="{e(url)}" style="display:inline-block;padding:10px 16px;{FONT}'
            f'font-size:15px;font-weight:bold;color:#ffffff;text-decoration:none;">'
            f"{e(text)}</a></td></tr></table>")


def _row(name: str, value_html: str) -> str:
    return (f'<tr><td valign="top" style="padding:4px 12px 4px 0;{FONT}font-size:14px;'
            f'color:{MUTED};white-space:nowrap;font-weight:bold;">{e(name)}</td>'
            f'<td valign="top" style="padding:4px 0;{FONT}font-size:15px;color:{TEXT};'
            f'word-break:break-word;">{value_html}</td></tr>')


def _heading(text: str) -> str:
    return (f'<p style="margin:16px 0 6px;{FONT}font-size:15px;font-weight:bold;'
            f'color:{TEXT};">{e(text)}</p>')


def _list(items: Iterable[str], ordered: bool) -> str:
    tag = "ol" if ordered else "ul"
    entries = "".join(f'<li style="margin:0 0 6px;">{item}</li>' for item in items)
    return (f'<{tag} style="margin:0 0 8px;padding-left:22px;{FONT}font-size:15px;'
            f'line-height:1.45;color:{TEXT};">{entries}</{tag}>')


def section(details: Mapping[str, Any]) -> str:
    """One alert's content (everything below its header band)."""
    parts: list[str] = []
    item, when = details.get("item"), details.get("when")
    if item:
        parts.append(_heading("What was seen"))
        parts.append(
            f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            f'border="0"><tr><td style="border-left:4px solid #9ca3af;background:#f3f4f6;'
            f'padding:10px 12px;{FONT}font-size:16px;line-height:1.45;color:{TEXT};'
            f'white-space:pre-wrap;word-break:break-word;">'
            f"{e(item['text'] or '(no text)')}</td></tr></table>")
        rows = [_row("Who", f"{e(message.who_wrote(item))} &mdash; {e(item['kind'])} on "
                            f"{e(details['platform'])}")]
        if when:
            rows.append(_row("When", e(when["local"])))
        permalink = item.get("permalink") or ""
        where = (link(f"Open the {item['kind']} on {details['platform']}", permalink)
                 if message.is_web_link(permalink)
                 else e(permalink or message.no_link(details)))
        rows.append(_row("Where", where))
        parts.append('<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
                     f'style="margin-top:10px;">{"".join(rows)}</table>')
    reasons = details.get("reasons") or ()
    parts.append(_heading("Why it was flagged"))
    parts.append(_list((f"<strong>{e(r['label'])}</strong> (score {r['score']:.2f}): "
                        f"{e('; '.join(r['why']))}" for r in reasons), ordered=False))
    for note in details.get("notes") or ():
        parts.append(f'<p style="margin:8px 0;padding:8px 10px;background:#fef3c7;'
                     f'border-radius:4px;{FONT}font-size:15px;color:{TEXT};">{e(note)}</p>')
    advice = details.get("advice") or ()
    if advice:
        parts.append(_heading("What to do next"))
        parts.append(_list((e(step) for step in advice), ordered=True))
    parts.append(_links(details))
    parts.append(f'<p style="margin:12px 0 0;{FONT}font-size:12px;color:{MUTED};">'
                 f"Ref: {e(details['ref'])}</p>")
    return "".join(parts)


def _links(details: Mapping[str, Any]) -> str:
    """The incident's console page and acknowledge link as buttons, the offered actions as links
    (console) or commands (no console)."""
    parts: list[str] = []
    incident = details.get("incident")
    buttons = []
    if incident and message.is_web_link(incident.get("url")):
        buttons.append(button(f"Open incident #{incident['id']}", incident["url"]))
    if incident and message.is_web_link(incident.get("ack_url")):
        buttons.append(button(message.ACK_LABEL, incident["ack_url"], "#15803d"))
    if buttons:
        parts.append(f'<div style="margin:14px 0 4px;">{"".join(buttons)}</div>')
    elif incident:
        parts.append(f'<p style="margin:12px 0 4px;{FONT}font-size:15px;color:{TEXT};">'
                     f"To acknowledge, run: <code>{e(incident['ack_command'])}</code></p>")
    actions = details.get("actions") or ()
    if actions:
        if all(a["url"] for a in actions):
            shown = " &middot; ".join(link(a["label"], a["url"]) for a in actions)
            parts.append(f'<p style="margin:8px 0;{FONT}font-size:15px;color:{TEXT};">'
                         f"<strong>Actions in the console:</strong> {shown}</p>")
        else:
            parts.append(_heading("Actions"))
            parts.append(_list((f"<code>{e(a['command'])}</code>" for a in actions),
                               ordered=False))
    return "".join(parts)


def band(title: str, severity: str) -> str:
    colour = SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["low"])
    return (f'<tr><td bgcolor="{colour}" style="background:{colour};padding:14px 18px;{FONT}'
            f'font-size:18px;line-height:1.3;font-weight:bold;color:#ffffff;">{e(title)}</td>'
            "</tr>")


def card(inner_rows: str) -> str:
    return ('<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
            'style="max-width:640px;background:#ffffff;border:1px solid #d1d5db;'
            f'border-radius:6px;margin:0 auto 16px;">{inner_rows}</table>')


def body_row(html: str) -> str:
    return f'<tr><td style="padding:14px 18px 18px;">{html}</td></tr>'


def page(title: str, cards: Sequence[str], preface: Sequence[str] = ()) -> str:
    """A complete HTML document around some cards."""
    intro = "".join(
        f'<p style="margin:0 auto 12px;max-width:640px;{FONT}font-size:15px;color:{TEXT};">'
        f"{line}</p>" for line in preface)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title></head>"
            '<body style="margin:0;padding:0;background:#f3f4f6;">'
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'border="0" bgcolor="#f3f4f6" style="background:#f3f4f6;"><tr>'
            '<td align="center" style="padding:12px 8px;">'
            f"{intro}{''.join(cards)}"
            "</td></tr></table></body></html>")


def for_line(roles: Iterable[str]) -> str:
    return f"<strong>For:</strong> {e(message.role_names(roles))}"


def render(title: str, details: Mapping[str, Any], roles: Iterable[str] = (),
           preface: Sequence[str] = ()) -> str:
    """One alert as an HTML email. `preface` lines are already HTML (escaped by the caller)."""
    roles = list(roles)
    lead = [for_line(roles)] if roles else []
    one = card(band(title, details.get("severity", "low")) + body_row(section(details)))
    return page(title, [one], [*preface, *lead])


def render_digest(title: str, alerts: Sequence[tuple[str, str, Mapping[str, Any] | None, str]],
                  roles: Iterable[str] = (), preface: Sequence[str] = ()) -> str:
    """Several alerts in one email: (title, severity, details or None, plain body) each; an
    alert without details (written before they were kept) is shown as its plain text."""
    roles = list(roles)
    cards = []
    for number, (alert_title, severity, details, body) in enumerate(alerts, 1):
        content = section(details) if details else (
            f'<div style="{FONT}font-size:15px;color:{TEXT};white-space:pre-wrap;'
            f'word-break:break-word;">{e(body)}</div>')
        cards.append(card(band(f"{number}. {alert_title}", severity) + body_row(content)))
    lead = [for_line(roles)] if roles else []
    return page(title, cards, [*preface, *lead, e(f"{len(alerts)} comments to look at.")])


def notice(line_html: str) -> str:
    """A warning line above the cards (a possible repeat)."""
    return (f'<p style="margin:0 auto 12px;max-width:640px;padding:8px 10px;background:#fef3c7;'
            f'border-radius:4px;{FONT}font-size:15px;color:{TEXT};">{line_html}</p>')
