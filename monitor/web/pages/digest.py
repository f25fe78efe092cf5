"""The weekly digests in the console, as they were sent: the head's digest and the DSL's summary
for a school, and the trust's roll-up over all its schools.

Who reads which: the head's digest (it quotes comments) is the head's and a trust admin's; the
DSL's safeguarding summary the DSL's, the head's and a trust admin's; the trust's roll-up a trust
admin's only. Digital champions and IT get the 403 page; staff see their own school only.

How the digest is shown: the page is the console's (header, navigation, week chooser) and the
digest, a complete HTML email, sits in an <iframe> whose address serves only that email. A
document of its own keeps the email's styles and the console's apart (neither restyles the
other), and lets that one response carry a policy of its own: images from the console only,
the inline styles an email needs, no script at all, framed by the console only
(`frame-ancestors 'self'`), and sandboxed. The console's own policy stays as strict as ever. The
sandbox keeps the same origin so that the frame's image requests carry the session cookie (the
images are as private as the digest); with no `allow-scripts` that gives the frame nothing to
run. The email's images (`cid:` references) point at a route here instead of data: URIs, so
neither policy has to allow data: images for them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from flask import Flask, Response, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor import models
from monitor.config import Config, DigestSchedule
from monitor.digest import weeks
from monitor.digest.send import is_holiday
from monitor.digest.weeks import SchoolWeek
from monitor.web.access import (
    Viewer,
    current_viewer,
    forbidden,
    login_required,
    require_school,
    viewer_or_none,
)
from monitor.web.context import db, hm_config, now
from monitor.web.pages import pages

if TYPE_CHECKING:
    from monitor.digest.render import RenderedDigest

log = logging.getLogger(__name__)

HEAD, DSL, TRUST = "head", "dsl", "trust"
SCHOOL_KINDS = (HEAD, DSL)
# The roles (besides a trust admin, who reads them all) who read each kind. The head's digest
# quotes what people wrote; the roll-up spans every school.
READERS: dict[str, frozenset[str]] = {
    HEAD: frozenset({"head"}),
    DSL: frozenset({"dsl", "head"}),
    TRUST: frozenset(),
}
KIND_TITLES = {HEAD: "Headteacher's digest", DSL: "DSL's safeguarding summary",
               TRUST: "Trust roll-up"}
# In the list, where two sit side by side on a phone.
SHORT_TITLES = {HEAD: "Head's digest", DSL: "DSL summary", TRUST: "Roll-up"}
WEEKS_LISTED = 8

# The policy of the bare digest in its frame: its own images and inline styles, nothing else.
# `sandbox` repeats the <iframe>'s attribute for when the address is opened on its own.
FRAME_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox "
    "allow-top-navigation-by-user-activation"
)
IMAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# A link in the digest opens in the whole window: a page inside the frame would be refused
# (the console and the platforms both forbid being framed).
LINK_TARGET = '<base target="_top">'
_HEAD_TAG = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)

# A digest is built once and shown from memory for a few minutes: the page's frame and each of
# its images are separate requests, and building one draws its chart.
CACHE_SECONDS = 300.0
CACHE_SIZE = 32
CACHE_KEY = "hallmonitor_digests"


@dataclass(frozen=True)
class Target:
    """One digest: its kind, its school (None for the trust's roll-up) and its week."""

    kind: str
    school_id: str | None
    week: SchoolWeek

    @property
    def label(self) -> str:
        return self.week.label

    def url(self, part: str = "", **args: str) -> str:
        """This digest's page (`part` "frame" for the bare email, "image" for an image)."""
        endpoint = "pages.trust_digest" if self.kind == TRUST else "pages.digest"
        if part:
            endpoint += f"_{part}"
        if self.kind == TRUST:
            return url_for(endpoint, week_label=self.label, **args)
        kind = {} if self.kind == HEAD else {"kind": self.kind}
        return url_for(endpoint, school_id=self.school_id, week_label=self.label, **kind, **args)

    def shifted(self, n: int) -> Target:
        return Target(self.kind, self.school_id, self.week.shifted(n))


def may_read(viewer: Viewer, kind: str) -> bool:
    """Whether this viewer's role reads digests of this kind (their schools are checked apart)."""
    return viewer.is_admin or viewer.role in READERS[kind]


def reads_digests(viewer: Viewer | None) -> bool:
    """Whether the console offers this viewer the digests at all (the navigation's link)."""
    return viewer is not None and any(may_read(viewer, kind) for kind in READERS)


@pages.app_context_processor
def _digest_link() -> dict[str, object]:
    return {"sees_digests": reads_digests(viewer_or_none())}


# --- the list -----------------------------------------------------------------------------------

@pages.route("/digest")
@login_required
def digests() -> str:
    viewer = current_viewer()
    if not reads_digests(viewer):
        forbidden()
    config = hm_config()
    school_kinds = tuple(kind for kind in SCHOOL_KINDS if may_read(viewer, kind))
    # Whose digests are listed: the viewer's schools, and the trust's (None) for a trust admin.
    listed: dict[str | None, tuple[str, ...]] = {
        school.id: school_kinds for school in config.schools if viewer.sees_school(school.id)}
    if config.trust is not None and may_read(viewer, TRUST):
        listed[None] = (TRUST,)
    rows = {school_id: _week_rows(config, school_id, kinds)
            for school_id, kinds in listed.items()}
    sent = sent_keys(db(), [target for school_rows in rows.values() for row in school_rows
                            for target in row])
    return render_template(
        "digests.html", viewer=viewer, sent=sent, key=_key, short_titles=SHORT_TITLES,
        holiday=lambda target: is_holiday(config, target.school_id, target.week),
        trust=config.trust,
        schools=[(config.school_name(school_id), school_rows)
                 for school_id, school_rows in rows.items() if school_id is not None],
        trust_rows=rows.get(None, ()))


def _week_rows(config: Config, school_id: str | None, kinds: tuple[str, ...]
               ) -> list[list[Target]]:
    """Each recent week's digests of these kinds, newest week first."""
    return [[Target(kind, school_id, week) for kind in kinds]
            for week in _recent_weeks(config, school_id)]


def _recent_weeks(config: Config, school_id: str | None) -> list[SchoolWeek]:
    """The last weeks whose digests have gone out, newest first."""
    timezone, schedule = _timing(config, school_id)
    latest = weeks.due_week(now(), schedule, timezone) \
        or weeks.week_of(now(), timezone).shifted(-2)
    return [latest.shifted(-n) for n in range(WEEKS_LISTED)]


# --- one digest ---------------------------------------------------------------------------------

@pages.route("/digest/<school_id>")
@login_required
def digest_choose(school_id: str) -> Response:
    """Where the week chooser sends its answer (`?week=2026-W47&kind=dsl`); without a week, the
    latest digest."""
    return _choose(_school_kind(), school_id)


@pages.route("/digest/trust")
@login_required
def trust_digest_choose() -> Response:
    return _choose(TRUST, None)


@pages.route("/digest/<school_id>/<week_label>")
@login_required
def digest(school_id: str, week_label: str) -> str | Response:
    return _page(_school_kind(), school_id, week_label)


@pages.route("/digest/trust/<week_label>")
@login_required
def trust_digest(week_label: str) -> str | Response:
    return _page(TRUST, None, week_label)


@pages.route("/digest/<school_id>/<week_label>/email")
@login_required
def digest_frame(school_id: str, week_label: str) -> Response:
    return _frame(_open(_school_kind(), school_id, week_label))


@pages.route("/digest/trust/<week_label>/email")
@login_required
def trust_digest_frame(week_label: str) -> Response:
    return _frame(_open(TRUST, None, week_label))


@pages.route("/digest/<school_id>/<week_label>/images/<name>")
@login_required
def digest_image(school_id: str, week_label: str, name: str) -> Response:
    return _image(_open(_school_kind(), school_id, week_label), name)


@pages.route("/digest/trust/<week_label>/images/<name>")
@login_required
def trust_digest_image(week_label: str, name: str) -> Response:
    return _image(_open(TRUST, None, week_label), name)


def _page(kind: str, school_id: str | None, week_label: str) -> str | Response:
    viewer = _reader(kind, school_id)
    config = hm_config()
    timezone, schedule = _timing(config, school_id)
    week = _week(week_label, timezone)
    target = Target(kind, school_id, week)
    if week.label != week_label:  # "2026w47" and the like: one address per digest
        return redirect(target.url())
    due = weeks.due_at(week.shifted(1), schedule, timezone)
    latest = Target(kind, school_id, _recent_weeks(config, school_id)[0])
    return render_template(
        "digest.html", viewer=viewer, target=target, title=KIND_TITLES[kind],
        sent=sent_digest(db(), target) if now() >= due else None,
        place=_place(config, target), ready=now() >= due, due=due, timezone=timezone,
        latest=latest, holiday=school_id is not None and is_holiday(config, school_id, week),
        other_kinds=[(KIND_TITLES[k], Target(k, school_id, week).url())
                     for k in SCHOOL_KINDS if k != kind and may_read(viewer, k)]
        if kind != TRUST else [],
        previous=target.shifted(-1),
        # No "next week" past the latest digest: it would only say "not ready yet".
        following=target.shifted(1) if week.start < latest.week.start else None)


def _place(config: Config, target: Target) -> str:
    if target.school_id is None:
        return config.trust.name if config.trust else "the trust"
    return config.school_name(target.school_id)


def _choose(kind: str, school_id: str | None) -> Response:
    _reader(kind, school_id)
    config = hm_config()
    timezone, _ = _timing(config, school_id)
    label = request.args.get("week", "").strip()
    week = _week(label, timezone) if label else _recent_weeks(config, school_id)[0]
    return redirect(Target(kind, school_id, week).url())


def _open(kind: str, school_id: str | None, week_label: str) -> Target:
    """The digest behind a frame or an image: only for its readers, only once it has gone out."""
    _reader(kind, school_id)
    config = hm_config()
    timezone, schedule = _timing(config, school_id)
    week = _week(week_label, timezone)
    if now() < weeks.due_at(week.shifted(1), schedule, timezone):
        abort(404)
    return Target(kind, school_id, week)


def _frame(target: Target) -> Response:
    digest = _shown(target)
    html = digest.html_with_images(lambda attachment: target.url("image", name=attachment.name))
    response = Response(_with_link_target(html), mimetype="text/html")
    response.headers["Content-Security-Policy"] = FRAME_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _image(target: Target, name: str) -> Response:
    digest = _shown(target)
    found = next((a for a in digest.attachments if a.name == name), None)
    # Only images, so nothing served from here can run as a page of the console's.
    if found is None or not found.content_type.startswith("image/"):
        abort(404)
    response = Response(found.data, mimetype=found.content_type)
    response.headers["Cache-Control"] = "private, max-age=300"
    # An image opened on its own (an SVG could hold a script) runs nothing.
    response.headers["Content-Security-Policy"] = IMAGE_POLICY
    return response


def _with_link_target(html: str) -> str:
    match = _HEAD_TAG.search(html)
    if match is None:
        return LINK_TARGET + html
    return html[:match.end()] + LINK_TARGET + html[match.end():]


# --- who, which week ----------------------------------------------------------------------------

def _school_kind() -> str:
    kind = request.args.get("kind", HEAD)
    if kind not in SCHOOL_KINDS:
        _bad_request("There is no digest of that kind: a school has the headteacher's digest "
                     "and the DSL's summary.")
    return kind


def _reader(kind: str, school_id: str | None) -> Viewer:
    """The viewer, if they read this kind of digest for this school; the 403 page otherwise (a
    school that does not exist is refused the same way to staff, so ids cannot be probed)."""
    viewer = current_viewer()
    if not may_read(viewer, kind):
        forbidden()
    config = hm_config()
    if kind == TRUST:
        if config.trust is None:
            abort(404)
        return viewer
    viewer = require_school(school_id or "")
    if config.find_school(school_id or "") is None:
        abort(404)
    return viewer


def _timing(config: Config, school_id: str | None) -> tuple[str, DigestSchedule]:
    """The timezone a digest's weeks are counted in, and when it goes out."""
    if school_id is None:
        trust = config.trust
        assert trust is not None and trust.timezone is not None and trust.digest is not None
        return trust.timezone, trust.digest
    school = config.school(school_id)
    return config.school_timezone(school), school.digest


def _week(label: str, timezone: str) -> SchoolWeek:
    try:
        return weeks.week_of(label, timezone)
    except ValueError as exc:
        # The library's message says what was wrong ("2025 has only 52 ISO weeks"); a long
        # label is not repeated back.
        text = str(exc) if len(label) <= 12 else "That is not a week."
        _bad_request(f"{text} Choose a week such as {weeks.week_of(now(), timezone).label}.")


def _bad_request(text: str) -> NoReturn:
    response = current_app.make_response((render_template(
        "error.html", code=400, title="That is not a week we can show", text=text), 400))
    abort(response)


# --- the digest as sent, or as it reads now -----------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """The digest's alert in the outbox: when it was queued and when it first reached someone."""

    alert_id: int
    queued_at: datetime
    sent_at: datetime | None


def sent_digest(session: Session, target: Target) -> Sent | None:
    """The digest queued for this school (or the trust) and week, the latest when it was sent
    again; None when none went out (a holiday week, no recipient, or before digests began)."""
    from monitor.digest.send import AGAIN, DIGEST_KIND

    key = _key(target)
    school = (models.Alert.school_id.is_(None) if target.school_id is None
              else models.Alert.school_id == target.school_id)
    row = session.execute(
        select(models.Alert.id, models.Alert.created_at, func.min(models.Delivery.sent_at))
        .outerjoin(models.Delivery, models.Delivery.alert_id == models.Alert.id)
        .where(models.Alert.kind == DIGEST_KIND, school,
               or_(models.Alert.dedupe_key == key,
                   models.Alert.dedupe_key.startswith(key + AGAIN, autoescape=True)))
        .group_by(models.Alert.id, models.Alert.created_at)
        .order_by(models.Alert.id.desc()).limit(1)).first()
    return None if row is None else Sent(row[0], row[1], row[2])


def sent_keys(session: Session, targets: list[Target]) -> set[str]:
    """Which of these digests went out, by their outbox keys: one query, kept to the schools
    asked about."""
    from monitor.digest.send import DIGEST_KIND

    schools = {t.school_id for t in targets}
    keys = [_key(t) for t in targets]
    where = [models.Alert.school_id.in_([s for s in schools if s is not None])]
    if None in schools:
        where.append(models.Alert.school_id.is_(None))
    return set(session.scalars(select(models.Alert.dedupe_key).where(
        models.Alert.kind == DIGEST_KIND, or_(*where), models.Alert.dedupe_key.in_(keys))))


def _key(target: Target) -> str:
    from monitor.digest.send import dedupe_key

    return dedupe_key(target.kind, target.school_id, target.label)


def _shown(target: Target) -> RenderedDigest:
    """What the frame shows: the digest exactly as it was queued (kept in its alert), or, when
    none went out, the digest built now from the records."""
    session = db()
    sent = sent_digest(session, target)
    if sent is not None:
        stored = _stored(session, sent.alert_id)
        if stored is not None:
            return stored
    return _rendered(target)


def _stored(session: Session, alert_id: int) -> RenderedDigest | None:
    from monitor.digest.render import RenderedDigest
    from monitor.notify import Attachment

    alert = session.get(models.Alert, alert_id)
    kept = (alert.details or {}).get("digest") if alert is not None else None
    if not isinstance(kept, dict) or not kept.get("html"):
        return None
    try:
        attachments = tuple(Attachment.from_stored(a) for a in kept.get("attachments", ()))
    except ValueError as exc:
        log.warning("digest alert %s: %s; showing it built anew", alert_id, exc)
        return None
    return RenderedDigest(kind=kept.get("kind", ""), title=alert.title, text=alert.body,
                          markdown=kept.get("markdown", ""), html=kept["html"],
                          attachments=attachments)


def _rendered(target: Target) -> RenderedDigest:
    """The digest built as the sender builds it, from memory when built in the last few
    minutes."""
    cache = _cache(current_app)
    key = (target.kind, target.school_id, target.label)
    found = cache.get(key)
    if found is not None:
        return found
    # Imported here: the renderer brings matplotlib, which the rest of the console never needs.
    from monitor.digest.build import build_digest

    digest = build_digest(db(), hm_config(), target.kind, target.school_id, target.week,
                          now=now(), short=_is_short(target))
    cache.put(key, digest)
    return digest


def _is_short(target: Target) -> bool:
    """A holiday week's digest is the short one (sent only when something was flagged)."""
    return target.school_id is not None and is_holiday(hm_config(), target.school_id, target.week)


class _Digests:
    """Recently built digests, newest last, each kept for CACHE_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[float, RenderedDigest]] = OrderedDict()

    def get(self, key: tuple) -> RenderedDigest | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or time.monotonic() - entry[0] > CACHE_SECONDS:
                return None
            return entry[1]

    def put(self, key: tuple, digest: RenderedDigest) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), digest)
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)


def _cache(app: Flask) -> _Digests:
    return app.extensions.setdefault(CACHE_KEY, _Digests())


@pages.app_template_filter("week_days")
def _week_days(week: SchoolWeek) -> str:
    """"16 to 22 November 2026", as the digest itself says it."""
    from monitor.digest.render import days_text

    return days_text(week.first_day, week.last_day)
