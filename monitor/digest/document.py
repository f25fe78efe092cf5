"""A digest as a small document of sections, lines, quotes, tables and images, written once and
rendered three ways: plain text (an email's text part), markdown (chat channels) and HTML (an
email). Writing it once is what keeps the three saying the same thing, line for line.

Everything in it is plain text as written: the renderers escape it for their format, so a
comment's words, an author's name or a connector's error can never become markup, and only an
http(s) address (`message.is_web_link`) ever becomes a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor import email_html, message
from monitor.email_html import FONT, MUTED, TEXT, e

# --- the document -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    text: str
    url: str | None  # not a web address: shown as text


@dataclass(frozen=True)
class Strong:
    text: str
    # A severity ("urgent", "high", …) shows as a coloured badge in HTML, in capitals elsewhere.
    badge: str | None = None


Inline = str | Link | Strong
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Paragraph:
    line: Line
    style: str = "plain"  # plain, lead (the headline), muted, warning


@dataclass(frozen=True)
class Quote:
    """Words someone wrote on a platform, shown as written."""

    text: str


@dataclass(frozen=True)
class Entry:
    """One thing in a list: its first line, then lines and quotes under it."""

    first: Line
    rest: tuple[Line | Quote, ...] = ()


@dataclass(frozen=True)
class Entries:
    entries: tuple[Entry, ...]
    numbered: bool = False


@dataclass(frozen=True)
class Subheading:
    text: str


@dataclass(frozen=True)
class Table:
    """A few columns of numbers: aligned text in plain text, one line per row in markdown."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    # In HTML, each row's name on a line of its own above its numbers: a table of many
    # columns then fits a phone's width without scrolling sideways.
    stacked: bool = False


@dataclass(frozen=True)
class Image:
    """An attached image shown in place (HTML), named as attached (text), left out in markdown
    (its table says the same)."""

    cid: str  # "cid:volume-chart.png"
    name: str
    alt: str
    width: int


Block = Paragraph | Entries | Subheading | Table | Image


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    title: str
    lead: tuple[Block, ...]
    sections: tuple[Section, ...] = ()
    footer: tuple[Paragraph, ...] = field(default_factory=tuple)


# --- plain text ---------------------------------------------------------------------------------

INDENT = "   "


def _text_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return f"{part.text}: {part.url}" if message.is_web_link(part.url) else part.text
    if isinstance(part, Strong):
        return part.text.upper() if part.badge else part.text
    return part


def _text_line(line: Line) -> str:
    return " ".join("".join(_text_inline(p) for p in line).split())


def _text_quote(quote: Quote) -> str:
    return f'"{" ".join(quote.text.split())}"'


def _text_table(table: Table) -> list[str]:
    widths = [max(len(row[i]) for row in (table.headers, *table.rows))
              for i in range(len(table.headers))]

    def row(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    lines = [table.caption] if table.caption else []
    return [*lines, row(table.headers), *(row(r) for r in table.rows)]


def _text_block(block: Block) -> list[str]:
    if isinstance(block, Paragraph):
        return [_text_line(block.line)]
    if isinstance(block, Subheading):
        return [f"{block.text}:"]
    if isinstance(block, Table):
        return _text_table(block)
    if isinstance(block, Image):
        return [f"Chart attached: {block.name}"]
    lines: list[str] = []
    for number, entry in enumerate(block.entries, 1):
        mark = f"{number}. " if block.numbered else "- "
        lines.append(mark + _text_line(entry.first))
        for part in entry.rest:
            shown = _text_quote(part) if isinstance(part, Quote) else _text_line(part)
            lines.append(" " * len(mark) + shown)
    return lines


def render_text(document: Document) -> str:
    """Plain text: the title, then each section under its title in capitals, blank lines
    between blocks."""
    out = [document.title, "=" * len(document.title), ""]
    for block in document.lead:
        out += [*_text_block(block), ""]
    for section in document.sections:
        out += [section.title.upper(), ""]
        for block in section.blocks:
            out += [*_text_block(block), ""]
    for block in document.footer:
        out += [*_text_block(block), ""]
    return "\n".join(out).rstrip() + "\n"


# --- markdown -----------------------------------------------------------------------------------

def _md_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return message.md_link(part.text, part.url)
    if isinstance(part, Strong):
        return f"**{message.md_escape(part.text.upper() if part.badge else part.text)}**"
    # md_escape flattens the text to one line, trimmed: the spaces between parts are kept here.
    lead = " " if part[:1].isspace() else ""
    trail = " " if part[-1:].isspace() and part.strip() else ""
    return lead + message.md_escape(part) + trail


def _md_line(line: Line) -> str:
    return "".join(_md_inline(p) for p in line)


def _md_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        text = _md_line(block.line)
        return f"**{text}**" if block.style == "lead" else (
            f"_{text}_" if block.style == "muted" else text)
    if isinstance(block, Subheading):
        return f"**{message.md_escape(block.text)}**"
    if isinstance(block, Table):
        lines = [message.md_escape(block.caption)] if block.caption else []
        for row in block.rows:
            pairs = "; ".join(f"{message.md_escape(h)} {message.md_escape(c)}"
                              for h, c in zip(block.headers[1:], row[1:], strict=True))
            lines.append(f"- **{message.md_escape(row[0])}**: {pairs}")
        return "\n".join(lines)
    if isinstance(block, Image):
        return ""
    items = []
    for number, entry in enumerate(block.entries, 1):
        mark = f"{number}. " if block.numbered else "- "
        lines = [mark + _md_line(entry.first)]
        for part in entry.rest:
            # A quote in quotation marks, not a "> " block: the lines under it in the same
            # item would run on into the block.
            shown = (f"“{message.md_escape(part.text)}”" if isinstance(part, Quote)
                     else _md_line(part))
            lines.append(" " * len(mark) + shown)
        # Two spaces end a line without ending the item (a hard break in CommonMark; chat
        # apps that show newlines as written ignore them).
        items.append("  \n".join(lines))
    return "\n".join(items)


def render_markdown(document: Document) -> str:
    out = [f"## {message.md_escape(document.title)}"]
    out += [_md_block(b) for b in document.lead]
    for section in document.sections:
        out.append(f"### {message.md_escape(section.title)}")
        out += [_md_block(b) for b in section.blocks]
    out += [_md_block(b) for b in document.footer]
    return "\n\n".join(part for part in out if part) + "\n"


# --- HTML ---------------------------------------------------------------------------------------

BADGE_COLOURS = email_html.SEVERITY_COLOURS
QUOTE = "#9ca3af"


def _html_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return email_html.link(part.text, part.url)
    if isinstance(part, Strong):
        if part.badge:
            colour = BADGE_COLOURS.get(part.badge, BADGE_COLOURS["low"])
            return (f'<span style="display:inline-block;padding:1px 6px;border-radius:3px;'
                    f'background:{colour};color:#ffffff;font-size:12px;font-weight:bold;'
                    f'letter-spacing:0.03em;">{e(part.text.upper())}</span>')
        return f"<strong>{e(part.text)}</strong>"
    return e(part)


def _html_line(line: Line) -> str:
    return "".join(_html_inline(p) for p in line)


_PARAGRAPH_STYLES = {
    "plain": f"margin:0 0 10px;{FONT}font-size:15px;line-height:1.45;color:{TEXT};",
    "lead": f"margin:0 0 12px;{FONT}font-size:18px;line-height:1.35;font-weight:bold;"
            f"color:{TEXT};",
    "muted": f"margin:0 0 10px;{FONT}font-size:14px;line-height:1.45;color:{MUTED};",
    "warning": f"margin:0 0 10px;padding:8px 10px;background:#fef3c7;border-radius:4px;{FONT}"
               f"font-size:15px;line-height:1.45;color:{TEXT};",
}


def _html_quote(quote: Quote) -> str:
    return (f'<div style="margin:4px 0;padding:4px 10px;border-left:4px solid {QUOTE};'
            f'background:#f3f4f6;{FONT}font-size:15px;line-height:1.45;color:{TEXT};'
            f'word-break:break-word;">{e(quote.text)}</div>')


def _html_entries(block: Entries) -> str:
    items = []
    for entry in block.entries:
        rest = "".join(
            _html_quote(part) if isinstance(part, Quote) else
            f'<div style="margin:2px 0;">{_html_line(part)}</div>' for part in entry.rest)
        items.append(f'<li style="margin:0 0 14px;padding-left:2px;">'
                     f'<div style="margin:0 0 2px;">{_html_line(entry.first)}</div>{rest}</li>')
    tag = "ol" if block.numbered else "ul"
    return (f'<{tag} style="margin:0 0 6px;padding-left:22px;{FONT}font-size:15px;'
            f'line-height:1.45;color:{TEXT};word-break:break-word;">{"".join(items)}</{tag}>')


def _html_table(table: Table) -> str:
    cell = f"{FONT}line-height:1.3;padding:5px 4px;border-bottom:1px solid #e5e7eb;"

    def cells(row: Sequence[str], tag: str) -> str:
        # Headers a size smaller, so five columns of them fit a phone's width.
        weight = ("font-size:12px;font-weight:bold;color:#374151;" if tag == "th"
                  else f"font-size:14px;color:{TEXT};")
        out = [f'<{tag} align="right" style="{cell}{weight}text-align:right;">{e(value)}</{tag}>'
               for value in row[1:]]
        if table.stacked:
            if tag == "th":
                return f"<tr>{''.join(out)}</tr>"
            return (f'<tr><td colspan="{len(row) - 1}" style="{FONT}font-size:14px;'
                    f'font-weight:bold;color:{TEXT};padding:8px 6px 0;word-break:break-word;">'
                    f"{e(row[0])}</td></tr><tr>{''.join(out)}</tr>")
        name = (f'<{tag} align="left" style="{cell}{weight}text-align:left;'
                f'word-break:break-word;">{e(row[0])}</{tag}>')
        return f"<tr>{name}{''.join(out)}</tr>"

    caption = (f'<caption style="{FONT}font-size:14px;font-weight:bold;color:{TEXT};'
               f'text-align:left;padding:0 0 4px;">{e(table.caption)}</caption>'
               if table.caption else "")
    return ('<table role="table" width="100%" cellpadding="0" cellspacing="0" border="0" '
            f'style="border-collapse:collapse;margin:0 0 12px;">{caption}'
            f"<thead>{cells(table.headers, 'th')}</thead>"
            f"<tbody>{''.join(cells(row, 'td') for row in table.rows)}</tbody></table>")


def _html_image(image: Image) -> str:
    # Fluid: the width Outlook needs as an attribute, and 100% up to it for a phone.
    return (f'<img src="{e(image.cid)}" width="{image.width}" alt="{e(image.alt)}" '
            f'style="display:block;width:100%;max-width:{image.width}px;height:auto;border:0;'
            f'margin:4px 0 12px;">')


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f'<p style="{_PARAGRAPH_STYLES[block.style]}">{_html_line(block.line)}</p>'
    if isinstance(block, Subheading):
        return (f'<h3 style="margin:12px 0 6px;{FONT}font-size:15px;font-weight:bold;'
                f'color:{TEXT};">{e(block.text)}</h3>')
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Image):
        return _html_image(block)
    return _html_entries(block)


# Printed as seen: the title band and severity badges are white on colour, which vanishes when a
# browser leaves backgrounds out of a print (an inherited property, so set around each card).
PRINT_AS_SEEN = "-webkit-print-color-adjust:exact;print-color-adjust:exact;"


def _card(heading_html: str, body_html: str) -> str:
    card = email_html.card(heading_html + email_html.body_row(body_html))
    return f'<div style="{PRINT_AS_SEEN}">{card}</div>'



def render_html(document: Document) -> str:
    """A complete HTML email: the title in a band over the lead, then a card per section."""
    cards = [_card(email_html.band(document.title, "low"),
                   "".join(_html_block(b) for b in document.lead))]
    for section in document.sections:
        heading = (f'<h2 style="margin:0 0 10px;{FONT}font-size:17px;line-height:1.3;'
                   f'font-weight:bold;color:{TEXT};">{e(section.title)}</h2>')
        cards.append(_card("", heading + "".join(_html_block(b) for b in section.blocks)))
    footer = [_html_line(p.line) for p in document.footer]
    return email_html.page(document.title, cards + [
        f'<p style="margin:0 auto 12px;max-width:640px;{FONT}font-size:13px;color:{MUTED};">'
        f"{line}</p>" for line in footer])
