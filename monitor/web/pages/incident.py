"""One incident: its items with their reasons, the rest of the thread, the authors' earlier
flagged items, the trail, and the forms to deal with it."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from classifiers.base import CATEGORIES
from connectors.base import ACTIONS
from monitor import actions, feedback, incidents, models
from monitor.message import PLATFORM_NAMES
from monitor.web import queries
from monitor.web.access import Viewer, current_viewer, forbidden, login_required, require_school
from monitor.web.context import console, db, now
from monitor.web.pages import pages
from monitor.web.pages.filters import action_label, outcome_labels

VIA = "console"
# Actions that cannot be undone from here: each asks "are you sure?" on a page of its own
# first, and is only taken when that page's form is sent (no script needed).
CONFIRMED = ("delete", "block")
# Long enough for a careful note, short enough that a pasted essay is refused with a reason.
NOTE_LIMIT = 4000


def _open_incident(incident_id: int) -> Viewer:
    """The viewer, if they may see this incident; the 403 page otherwise. IT never sees
    incidents (they hold what people wrote), and staff see their own school's only. A missing
    incident is refused the same way, so numbers cannot be probed for other schools'."""
    viewer = current_viewer()
    if not viewer.sees_comment_text:
        forbidden()
    school_id = queries.incident_school(db(), incident_id)
    if school_id is None:
        if viewer.is_admin:
            abort(404)
        forbidden()
    return require_school(school_id)


def _moderator(incident_id: int) -> Viewer:
    viewer = _open_incident(incident_id)
    if not viewer.can_moderate:
        forbidden()
    return viewer


def _back(incident_id: int, anchor: str = "") -> Response:
    target = url_for("pages.incident", incident_id=incident_id)
    return redirect(f"{target}#{anchor}" if anchor else target, code=303)


def no_actions_reason(item: models.Item) -> str:
    """Why an item offers no moderation action, in the platform's own terms (each different
    reason once: usually one covers them all)."""
    session = db()
    reasons = dict.fromkeys(r for r in (actions.refusal(session, a, item) for a in ACTIONS) if r)
    platform = PLATFORM_NAMES.get(item.platform, item.platform)
    if not reasons:
        return f"No moderation action can be taken on this {item.kind} from here."
    return (f"No moderation action is offered on this {platform} {item.kind}: "
            + "; ".join(reasons) + ".")


@pages.route("/incidents/<int:incident_id>")
@login_required
def incident(incident_id: int) -> str:
    viewer = _open_incident(incident_id)
    session = db()
    view = queries.incident_view(session, incident_id, private_notes=viewer.sees_private_notes,
                                 now=now())
    if view is None:  # removed between the check and the read
        forbidden()
    if viewer.can_moderate:
        for item_view in view.items:
            offered = actions.available_actions(session, item_view.item)
            # Hide or Unhide, never both; nothing that would do nothing now.
            item_view.actions = tuple(a for a in offered if item_view.state.refusal(a) is None)
            if not offered:
                item_view.no_actions_reason = no_actions_reason(item_view.item)
            elif not item_view.actions:
                item_view.no_actions_reason = "Nothing more can be done to it from here."
    return render_template(
        "incident.html", viewer=viewer, view=view, incident=view.incident,
        outcomes=outcome_labels(), categories=CATEGORIES, confirmed=CONFIRMED,
        incident_of=queries.incidents_of(
            session, [v.item.id for v in view.earlier] + [i.id for i in view.thread]))


@pages.post("/incidents/<int:incident_id>/acknowledge")
@login_required
def acknowledge(incident_id: int) -> Response:
    viewer = _moderator(incident_id)
    try:
        incidents.acknowledge(console().sessions, incident_id, viewer.email, via=VIA)
    except incidents.IncidentError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Incident #{incident_id} acknowledged.", "ok")
    return _back(incident_id)


@pages.post("/incidents/<int:incident_id>/resolve")
@login_required
def resolve(incident_id: int) -> Response:
    viewer = _moderator(incident_id)
    outcome = request.form.get("outcome", "")
    note = request.form.get("note", "").strip()
    labels = outcome_labels()
    if outcome not in labels:
        flash("Choose an outcome to resolve the incident.", "error")
        return _back(incident_id, "resolve")
    if len(note) > NOTE_LIMIT:
        flash(f"The note is too long: at most {NOTE_LIMIT} characters.", "error")
        return _back(incident_id, "resolve")
    try:
        incidents.resolve(console().sessions, incident_id, viewer.email, outcome, note, via=VIA)
    except incidents.IncidentError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Incident #{incident_id} resolved: {labels[outcome]}.", "ok")
    return _back(incident_id)


@pages.post("/incidents/<int:incident_id>/reopen")
@login_required
def reopen(incident_id: int) -> Response:
    viewer = _moderator(incident_id)
    try:
        incidents.reopen(console().sessions, incident_id, viewer.email, via=VIA)
    except incidents.IncidentError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Incident #{incident_id} reopened.", "ok")
    return _back(incident_id)


@pages.post("/incidents/<int:incident_id>/hold")
@login_required
def hold(incident_id: int) -> Response:
    """Evidence hold is the DSL's and the head's call, like their private notes: it keeps what
    people wrote beyond the retention periods."""
    viewer = _open_incident(incident_id)
    if not viewer.sees_private_notes:
        forbidden()
    reason = request.form.get("reason", "").strip()
    if len(reason) > NOTE_LIMIT:
        flash(f"The reason is too long: at most {NOTE_LIMIT} characters.", "error")
        return _back(incident_id, "evidence")
    try:
        incidents.hold(console().sessions, incident_id, viewer.email, reason, via=VIA)
    except incidents.IncidentError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Incident #{incident_id} is under evidence hold: retention will keep it until "
              "the hold is released.", "ok")
    return _back(incident_id, "evidence")


@pages.post("/incidents/<int:incident_id>/release")
@login_required
def release(incident_id: int) -> Response:
    viewer = _open_incident(incident_id)
    if not viewer.sees_private_notes:
        forbidden()
    try:
        incidents.release(console().sessions, incident_id, viewer.email, via=VIA)
    except incidents.IncidentError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Evidence hold on incident #{incident_id} released.", "ok")
    return _back(incident_id, "evidence")


@pages.post("/incidents/<int:incident_id>/notes")
@login_required
def add_note(incident_id: int) -> Response:
    viewer = _open_incident(incident_id)
    if not viewer.sees_private_notes:
        forbidden()
    text = request.form.get("text", "").strip()
    if not text:
        flash("Write the note before adding it.", "error")
        return _back(incident_id, "notes")
    if len(text) > NOTE_LIMIT:
        flash(f"The note is too long: at most {NOTE_LIMIT} characters.", "error")
        return _back(incident_id, "notes")
    try:
        incidents.add_note(console().sessions, incident_id, viewer.email, text)
    except incidents.IncidentError as exc:
        flash(str(exc), "error")
    else:
        flash("Note added.", "ok")
    return _back(incident_id, "notes")


def _item_of(incident_id: int, item_id: int) -> models.Item:
    item = queries.item_in_incident(db(), incident_id, item_id)
    if item is None:
        forbidden()
    return item


@pages.post("/incidents/<int:incident_id>/items/<int:item_id>/action")
@login_required
def act(incident_id: int, item_id: int) -> str | Response:
    viewer = _moderator(incident_id)
    item = _item_of(incident_id, item_id)
    action = request.form.get("action", "")
    anchor = f"item-{item_id}"
    if action not in actions.available_actions(db(), item):
        # Not offered on the page, so it was typed in or the page is out of date: refuse it
        # with the platform's reason, and record nothing (nothing was attempted).
        known = action in ACTIONS
        reason = actions.refusal(db(), action, item) if known else None
        what = action_label(action) if known else "That action"
        flash(f"{what} is not available here, so nothing was done"
              + (f": {reason}" if reason else "."), "error")
        return _back(incident_id, anchor)
    state = queries.item_state(db(), item)
    pointless = state.refusal(action)
    if pointless:
        # A second press, or a page left open while someone else acted: nothing to do.
        flash(f"{action_label(action)}: nothing was done, because {pointless}.", "error")
        return _back(incident_id, anchor)
    if action in CONFIRMED and request.form.get("confirm") != action:
        return render_template("confirm_action.html", viewer=viewer, item=item,
                               action=action, incident_id=incident_id,
                               timezone=queries.school_timezone(db(), item.school_id))
    try:
        record = actions.take_action(console().config, console().sessions, action, item_id,
                                     viewer.email, incident_id=incident_id, via=VIA)
    except actions.ActionError as exc:
        flash(str(exc), "error")
        return _back(incident_id, anchor)
    if record.ok:
        flash(f"{action_label(action)}: done. {record.result}", "ok")
    else:
        flash(f"{action_label(action)} failed: {record.result}", "error")
    return _back(incident_id, anchor)


@pages.post("/incidents/<int:incident_id>/items/<int:item_id>/feedback")
@login_required
def correct(incident_id: int, item_id: int) -> Response:
    viewer = _moderator(incident_id)
    _item_of(incident_id, item_id)
    not_a_problem = request.form.get("kind") == "not_a_problem"
    chosen = [] if not_a_problem else request.form.getlist("category")
    try:
        feedback.correct(console().sessions, item_id, categories=chosen,
                         not_a_problem=not_a_problem, by=viewer.email)
    except feedback.FeedbackError:
        flash("Choose the categories this comment really belongs to (or say it is not a "
              "problem).", "error")
    else:
        shown = ", ".join(c.replace("_", " ") for c in CATEGORIES if c in chosen)
        flash("Thank you: recorded as not a problem." if not_a_problem
              else f"Thank you: recorded as {shown}.", "ok")
    return _back(incident_id, f"item-{item_id}")
