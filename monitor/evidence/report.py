"""The readable report of an evidence folder (`report.html`): one self-contained HTML page, no
scripts and nothing fetched, laid out for a screen and for A4 paper.

It is made only from what the folder's records hold, so it says no more than they do. Every word
from a platform or a person (a comment, a name, a note) is escaped, and only an http(s) address
(`message.is_web_link`) ever becomes a link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from monitor import incidents, message
from monitor.evidence import chain

if TYPE_CHECKING:
    from monitor.evidence.export import Snapshot

STATUS = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
STEP_NAMES = {"hide": "Hidden", "unhide": "Unhidden", "delete": "Deleted",
              "block": "Author blocked", "mute": "Author muted", "acknowledge": "Acknowledged",
              "resolve": "Resolved",
              "reopen": "Reopened", "note": "Note", "hold": "Evidence hold",
              "release": "Evidence hold released", "correct": "Correction"}
RECORD_REASONS = {"alerted urgent": "alerted as urgent", "alerted high": "alerted as high",
                  "before hide": "before it was hidden", "before delete": "before it was deleted",
                  "before block": "before its author was blocked",
                  "held": "when the incident was put under evidence hold"}

CSS = """
:root { --ink: #1b1f24; --muted: #59616b; --rule: #c9ced4; --soft: #f3f4f6; --accent: #1f3a5f; }
* { box-sizing: border-box; }
html { background: #e9ebee; }
body { margin: 0; color: var(--ink); font: 10.5pt/1.45 "Helvetica Neue", Arial, "Liberation Sans",
       sans-serif; }
.page { max-width: 210mm; margin: 24px auto; background: #fff; padding: 18mm 18mm 14mm;
        box-shadow: 0 1px 4px rgba(0,0,0,.15); }
header.top { border-bottom: 2px solid var(--accent); padding-bottom: 10px; margin-bottom: 14px; }
.kicker { margin: 0; color: var(--accent); font-size: 8.5pt; letter-spacing: .08em;
          text-transform: uppercase; font-weight: bold; }
h1 { margin: 4px 0 2px; font-size: 19pt; line-height: 1.2; }
.subtitle { margin: 0 0 10px; color: var(--muted); font-size: 11pt; }
h2 { font-size: 12.5pt; margin: 22px 0 8px; padding-bottom: 3px; border-bottom: 1px solid
     var(--rule); color: var(--accent); break-after: avoid; page-break-after: avoid; }
h3 { font-size: 11pt; margin: 0 0 8px; }
h4 { font-size: 9.5pt; margin: 12px 0 4px; text-transform: uppercase; letter-spacing: .05em;
     color: var(--muted); break-after: avoid; page-break-after: avoid; }
p { margin: 0 0 6px; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; margin: 0 0 4px; }
th, td { text-align: left; vertical-align: top; padding: 4px 6px; border-bottom: 1px solid
         var(--rule); overflow-wrap: break-word; }
thead { display: table-header-group; }
thead th { background: var(--soft); font-size: 8.5pt; text-transform: uppercase;
           letter-spacing: .04em; color: var(--muted); border-bottom: 1px solid var(--muted); }
tr { break-inside: avoid; page-break-inside: avoid; }
table.facts th { width: 28%; font-weight: bold; color: var(--muted); font-size: 9.5pt;
                 padding-top: 5px; }
table.timeline, table.entries { font-size: 9.5pt; }
table.meta { font-size: 9pt; }
table.meta th { width: 24%; color: var(--muted); font-weight: normal; }
table.meta td, table.meta th { border: 0; padding: 1px 6px 1px 0; }
.hash { font: 7.5pt/1.5 "DejaVu Sans Mono", Menlo, Consolas, monospace; word-break: break-all; }
table.entries td.hash { font-size: 7pt; }
.muted { color: var(--muted); }
.small { font-size: 9pt; }
.badge { display: inline-block; border: 1px solid var(--ink); padding: 0 5px; font-size: 8.5pt;
         font-weight: bold; letter-spacing: .05em; text-transform: uppercase; }
.badge.urgent { border-color: #8b1a1a; color: #8b1a1a; }
.badge.high { border-color: #8a4b00; color: #8a4b00; }
article.item { border: 1px solid var(--rule); border-left: 3px solid var(--accent);
               padding: 10px 12px; margin: 0 0 14px; break-inside: avoid;
               page-break-inside: avoid; }
article.item.removed { border-left-color: var(--muted); background: var(--soft); }
blockquote.said { margin: 0; padding: 6px 10px; background: var(--soft); border-left: 3px solid
                  var(--muted); white-space: pre-wrap; overflow-wrap: anywhere;
                  font: 11pt/1.45 Georgia, "DejaVu Serif", "Times New Roman", serif; }
ul.reasons { margin: 0; padding-left: 18px; }
a { color: var(--accent); overflow-wrap: anywhere; }
.notice { border: 1px solid var(--rule); background: var(--soft); padding: 8px 10px;
          font-size: 9.5pt; }
footer { margin-top: 22px; padding-top: 8px; border-top: 2px solid var(--accent);
         font-size: 9pt; color: var(--muted); }
footer code, .notice code { font: 8.5pt "DejaVu Sans Mono", Menlo, Consolas, monospace;
                            color: var(--ink); }
@media screen and (max-width: 640px) {
  .page { margin: 0; padding: 16px; box-shadow: none; }
  table.facts, table.facts tbody, table.facts tr, table.facts th, table.facts td,
  table.meta, table.meta tbody, table.meta tr, table.meta th, table.meta td {
    display: block; width: auto; }
  table.facts tr { border-bottom: 1px solid var(--rule); padding: 4px 0; }
  table.facts th, table.facts td { border: 0; padding: 1px 0; }
  table.meta tr { padding: 2px 0; }
  article.item { padding: 8px 10px; }
}
@page { size: A4; margin: 18mm; }
@media print {
  html { background: #fff; }
  body { font-size: 10pt; }
  .page { max-width: none; margin: 0; padding: 0; box-shadow: none; }
  .hash { font-size: 7pt; }
  a { color: var(--ink); text-decoration: none; }
  a[href]:not(.url)::after { content: " <" attr(href) ">"; font-size: 8pt; color: var(--muted);
                   overflow-wrap: anywhere; }
  thead th, blockquote.said, article.item.removed, .notice { -webkit-print-color-adjust: exact;
                                                             print-color-adjust: exact; }
}
"""


def render(snapshot: Snapshot) -> str:
    tz = snapshot.timezone
    records = snapshot.records
    items = [r for r in records if r["kind"] == "item"]
    steps = [r for r in records if r["kind"] not in ("item", chain.REMOVAL)]
    groups = _item_groups(items)
    removed_by = {int(seq): str(r["content"].get("reason") or "")
                  for r in records if r["kind"] == chain.REMOVAL and r.get("content")
                  for seq in r["content"].get("removed") or ()}
    item_steps = {key for key in groups}
    incident_steps = [s for s in steps if _step_item(s) not in item_steps]
    title = (f"Evidence report: incident {snapshot.incident['id']}, "
             f"{snapshot.school['name']}")
    body = [
        _masthead(snapshot),
        _section("1. The incident", _incident_table(snapshot.incident, snapshot.school, tz)),
        _section(f"2. The comments ({len(groups)})",
                 "".join(_item(n, len(groups), group, steps, tz, removed_by)
                         for n, group in enumerate(groups.values(), start=1))
                 or '<p class="muted">No comment of this incident is in the records.</p>'),
        _section("3. What was done about the incident",
                 _timeline(incident_steps, tz, "Nothing was recorded about the incident "
                                                "apart from its comments.")),
        _section("4. The chain entries in this folder", _entries_table(records)),
        _footer(snapshot),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<div class=\"page\">\n{''.join(body)}</div>\n</body>\n</html>\n")


# --- parts --------------------------------------------------------------------------------------

def _masthead(snapshot: Snapshot) -> str:
    incident, tz = snapshot.incident, snapshot.timezone
    harm = incidents.HARMS.get(incident.get("harm") or "", incident.get("harm") or "")
    head = snapshot.head
    rows = [
        ("Exported", _when(snapshot.exported_at.isoformat(), tz)),
        ("Exported by", escape(snapshot.exported_by)),
        ("Records", f"{len(snapshot.records)} chain entries of the school's evidence chain"),
        ("Chain head at export", f"entry {int(head['seq'])}<br>"
                                 f"<span class=\"hash\">{escape(head['entry_hash'])}</span>"),
    ]
    return ("<header class=\"top\">\n<p class=\"kicker\">Evidence report &middot; "
            "Hall Monitor</p>\n"
            f"<h1>Incident {int(incident['id'])}: {escape(harm.capitalize())}</h1>\n"
            f"<p class=\"subtitle\">{escape(snapshot.school['name'])}</p>\n"
            f"{_facts(rows, 'meta')}</header>\n")


def _incident_table(incident: Mapping[str, Any], school: Mapping[str, str], tz: str) -> str:
    severity = str(incident.get("severity") or "")
    outcome = incident.get("outcome")
    rows = [
        ("School", f"{escape(school['name'])} <span class=\"muted\">"
                   f"({escape(school['id'])}, times in {escape(tz)})</span>"),
        ("Incident", str(int(incident["id"]))),
        ("Harm", escape(incidents.HARMS.get(incident.get("harm") or "",
                                            incident.get("harm") or "-"))),
        ("Severity", _badge(severity)),
        ("Categories", escape(_labels(incident.get("categories") or ())) or "-"),
        ("Status", escape(STATUS.get(incident.get("status") or "", incident.get("status") or ""))),
        ("Outcome", escape(incidents.OUTCOMES.get(outcome, outcome)) if outcome
         else '<span class="muted">none yet</span>'),
        ("Opened", _when(incident.get("opened_at"), tz)),
        ("Acknowledged", _by(incident.get("acknowledged_by"), incident.get("acknowledged_at"),
                             tz)),
        ("Resolved", _by(incident.get("resolved_by"), incident.get("resolved_at"), tz)),
        ("Evidence hold", _by(incident.get("held_by"), incident.get("held_at"), tz)
         + (f"<br>{escape(incident['hold_reason'])}" if incident.get("hold_reason") else "")),
    ]
    return _facts(rows)


def _item_groups(items: Sequence[Mapping[str, Any]]) -> dict[Any, list[Mapping[str, Any]]]:
    """The item records by the item they are of: one comment may be recorded when alerted and
    again before it was deleted."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for record in items:
        key = record.get("item_id") or ((record.get("content") or {}).get("item") or {}).get("id") \
            or f"entry {record['seq']}"
        groups.setdefault(key, []).append(record)
    return groups


def _step_item(step: Mapping[str, Any]) -> Any:
    return step.get("item_id") or (step.get("content") or {}).get("item_id")


def _item(number: int, total: int, group: Sequence[Mapping[str, Any]],
          steps: Sequence[Mapping[str, Any]], tz: str, removed_by: Mapping[int, str]) -> str:
    kept = [r for r in group if r.get("content")]
    entries = ", ".join(str(r["seq"]) for r in group)
    if not kept:
        return ("<article class=\"item removed\">\n"
                f"<h3>Comment {number} of {total} <span class=\"muted\">&middot; chain entr"
                f"{'y' if len(group) == 1 else 'ies'} {entries}</span></h3>\n"
                "<p>Its content was removed from the records "
                f"({escape(removed_by.get(int(group[0]['seq'])) or 'retention or erasure')}) on "
                f"{_at(group[0].get('removed_at'))}. Its hashes remain "
                "(section 4), so the chain still shows it existed and was not altered.</p>\n"
                "</article>\n")
    first = kept[0]["content"]
    item = first.get("item") or {}
    verdict = first.get("verdict") or {}
    item_tz = str(item.get("timezone") or tz)
    platform = message.PLATFORM_NAMES.get(item.get("platform", ""), item.get("platform", ""))
    rows = [
        ("What was written", f"<blockquote class=\"said\">{escape(item.get('text') or '')}"
                             "</blockquote>"),
        ("Who wrote it", _author(item.get("author") or {})),
        ("When it was written", _when(item.get("created_utc"), item_tz)),
        ("Where", _where(item, platform)),
        ("Why it was flagged", _why(verdict, tz)),
        ("Recorded", _recorded(group, tz)),
    ]
    for record in kept[1:]:
        text = (record["content"].get("item") or {}).get("text")
        if text is not None and text != item.get("text"):
            rows.append((f"Text as recorded in entry {record['seq']}",
                         f"<blockquote class=\"said\">{escape(text)}</blockquote>"))
    key = group[0].get("item_id") or item.get("id")
    done = [s for s in steps if key is not None and _step_item(s) == key]
    return ("<article class=\"item\">\n"
            f"<h3>Comment {number} of {total} <span class=\"muted\">&middot; "
            f"{escape(platform)} {escape(item.get('kind') or 'item')} &middot; chain entr"
            f"{'y' if len(group) == 1 else 'ies'} {entries}</span></h3>\n"
            f"{_facts(rows, 'facts')}"
            "<h4>What was done about this comment</h4>\n"
            f"{_timeline(done, tz, 'Nothing was done to this comment on the platform.')}"
            "</article>\n")


def _author(author: Mapping[str, Any]) -> str:
    name, handle, ident = (str(author.get(k) or "") for k in ("name", "handle", "id"))
    parts = [f"<strong>{escape(name)}</strong>" if name else
             '<span class="muted">no name given</span>']
    if handle:
        parts.append(f"@{escape(handle.lstrip('@'))}")
    parts.append(f"<span class=\"muted\">platform id</span> {escape(ident) or '-'}")
    return "<br>".join(parts)


def _where(item: Mapping[str, Any], platform: str) -> str:
    link = str(item.get("permalink") or "")
    # The address is the link's text, so print leaves it as it is (class "url").
    shown = (f"<a class=\"url\" href=\"{escape(link)}\">{escape(link)}</a>"
             if message.is_web_link(link)
             else escape(link) or '<span class="muted">no link</span>')
    lines = [f"{escape(platform)}, id {escape(str(item.get('external_id') or '-'))}", shown]
    if item.get("parent_id"):
        lines.append(f"<span class=\"muted\">in reply to</span> {escape(str(item['parent_id']))}")
    return "<br>".join(lines)


def _why(verdict: Mapping[str, Any], tz: str) -> str:
    if not verdict:
        return '<span class="muted">no verdict was recorded</span>'
    categories = list(verdict.get("categories") or ())
    reasons = incidents.readable_reasons(verdict.get("reasons"), verdict.get("scores") or {})
    listed = "".join(
        f"<li><strong>{escape(message.label(category))}</strong>: "
        f"{escape('; '.join(reasons.get(category, ())) or 'no reason recorded')}</li>"
        for category in categories)
    parts = [f"{_badge(str(verdict.get('severity') or ''))} "
             f"{escape(_labels(categories)) or 'no category'}"]
    if listed:
        parts.append(f"<ul class=\"reasons\">{listed}</ul>")
    parts.append(f"<span class=\"muted small\">model {escape(str(verdict.get('model_version')))}"
                 f", classified {_at(verdict.get('classified_utc'))}</span>")
    return "\n".join(parts)


def _recorded(group: Sequence[Mapping[str, Any]], tz: str) -> str:
    lines = []
    for record in group:
        content = record.get("content") or {}
        reason = str(content.get("reason") or "")
        why = RECORD_REASONS.get(reason, reason) or "content removed"
        lines.append(f"entry {int(record['seq'])}, {escape(why)}: "
                     f"{_at(record.get('recorded_at'))}")
    return "<br>".join(lines)


def _timeline(steps: Sequence[Mapping[str, Any]], tz: str, none: str) -> str:
    if not steps:
        return f"<p class=\"muted\">{escape(none)}</p>\n"
    rows = []
    for step in steps:
        content = step.get("content")
        if not content:
            rows.append(f"<tr><td>{_when(step.get('recorded_at'), tz, short=True)}</td>"
                        "<td colspan=\"3\" class=\"muted\">content removed (entry "
                        f"{int(step['seq'])}); its hashes remain</td></tr>")
            continue
        action = str(content.get("action") or "")
        ok = content.get("ok", True)
        result = escape(str(content.get("result") or ""))
        if not ok:
            result = f"<strong>failed</strong>: {result}"
        rows.append(f"<tr><td>{_when(content.get('at_utc'), tz, short=True)}</td>"
                    f"<td>{escape(str(content.get('actor') or '-'))}</td>"
                    f"<td>{escape(STEP_NAMES.get(action, action.capitalize()))}</td>"
                    f"<td>{result}</td></tr>")
    return ("<table class=\"timeline\"><colgroup><col style=\"width:26%\">"
            "<col style=\"width:27%\"><col style=\"width:15%\"><col></colgroup>"
            "<thead><tr><th>When</th><th>Who</th><th>What</th><th>Result</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>\n")


def _entries_table(records: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for record in records:
        kind = str(record["kind"])
        if record.get("content") is None:
            kind += "<br><span class=\"muted small\">content removed</span>"
        rows.append(f"<tr><td>{int(record['seq'])}</td><td>{kind}</td>"
                    f"<td>{_at(record.get('recorded_at'))}</td>"
                    f"<td class=\"hash\">{escape(record['content_sha256'])}<br>"
                    f"{escape(record['entry_hash'])}</td></tr>")
    return ("<p class=\"small\">Each entry carries the SHA-256 of its content and a chain hash "
            "made from it and the chain hash of the entry before it in the school's chain: "
            "changing, removing or reordering any entry breaks the hashes from there on. The "
            "JSON of each is in <code>records/</code>, named by its number.</p>\n"
            "<table class=\"entries\"><colgroup><col style=\"width:5%\"><col style=\"width:10%\">"
            "<col style=\"width:27%\"><col></colgroup>"
            "<thead><tr><th>No</th><th>Kind</th><th>Recorded</th>"
            "<th>SHA-256 of the content, then the chain hash</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>\n")


def _footer(snapshot: Snapshot) -> str:
    return ("<footer>\n<p><strong>Checking this folder.</strong> This report is one file of an "
            "evidence folder, with <code>records/</code> (every chain entry as JSON), "
            "<code>payloads/</code> (each comment exactly as the platform returned it), "
            "<code>manifest.json</code> and <code>SHA256SUMS</code>. To check that nothing in "
            "it was altered, run <code>hallmonitor evidence verify FOLDER</code>, which also "
            "checks every record's hashes and links; or, without Hall Monitor, run "
            "<code>sha256sum -c SHA256SUMS</code> inside the folder.</p>\n"
            f"<p>The chain head at export, <span class=\"hash\">"
            f"{escape(snapshot.head['entry_hash'])}</span>, can be compared with the school's "
            "evidence chain, which keeps it.</p>\n</footer>\n")


# --- small pieces -------------------------------------------------------------------------------

def _section(title: str, inner: str) -> str:
    return f"<section>\n<h2>{escape(title)}</h2>\n{inner}</section>\n"


def _facts(rows: Iterable[tuple[str, str]], css: str = "facts") -> str:
    cells = "".join(f"<tr><th scope=\"row\">{escape(name)}</th><td>{value}</td></tr>"
                    for name, value in rows)
    return f"<table class=\"{css}\"><tbody>{cells}</tbody></table>\n"


def _badge(severity: str) -> str:
    if not severity:
        return '<span class="muted">-</span>'
    return f"<span class=\"badge {escape(severity)}\">{escape(severity)}</span>"


def _labels(categories: Iterable[str]) -> str:
    return ", ".join(message.label(str(c)) for c in categories)


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _when(value: Any, tz: str, *, short: bool = False) -> str:
    """A time in UTC and in the school's local time, which is what a reader at the school
    remembers; both, since the report may be read elsewhere. The local date is said only when
    it is not the UTC date."""
    at = _parse(value) if value else None
    if at is None:
        return escape(str(value)) if value else '<span class="muted">-</span>'
    utc, local = at.astimezone(UTC), at.astimezone(ZoneInfo(tz))
    day = "%d %b %Y" if short else "%A %d %B %Y"
    shown_local = f"{local:%H:%M:%S} {escape(local.tzname() or '')}"
    if local.date() != utc.date():
        shown_local = f"{_day(local, day)}, {shown_local}"
    where = "local" if short else "school time"
    return (f"{_day(utc, day)}{'' if short else ','} {utc:%H:%M:%S} UTC<br>"
            f"<span class=\"muted small\">{shown_local} {where}</span>")


def _day(at: datetime, pattern: str) -> str:
    return at.strftime(pattern).replace(" 0", " ").lstrip("0")


def _at(value: Any) -> str:
    """A time on one line, in UTC, for a detail such as when a verdict was made."""
    at = _parse(value) if value else None
    return f"{_day(at.astimezone(UTC), '%d %b %Y')} {at.astimezone(UTC):%H:%M:%S} UTC" \
        if at else "-"


def _by(who: str | None, at: Any, tz: str) -> str:
    if not at:
        return '<span class="muted">not yet</span>'
    return f"by {escape(who or 'unknown')}<br>{_when(at, tz)}"
