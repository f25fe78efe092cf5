"""Pages for looking after the system: sources (health, pausing, costs), the audit trail and
staff accounts. IT's pages: they show no comment text."""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from monitor import models
from monitor import sources as sources_module
from monitor.web import queries
from monitor.web.access import (
    Viewer,
    current_viewer,
    forbidden,
    login_required,
    require_school,
    schools_visible,
)
from monitor.web.context import db, db_begin, now
from monitor.web.pages import pages

log = logging.getLogger(__name__)

# Who looks after sources and accounts: IT, and the head who answers for the school (a trust
# admin always may).
SYSTEM_ROLES = ("it", "head")
# Trail entries whose result is something a person wrote (a note): it may quote the comment, so
# those who may not read comment text never see it (notes are left out for them anyway).
WRITTEN_BY_STAFF = ("note",)


def _system_viewer() -> Viewer:
    viewer = current_viewer()
    if not (viewer.is_admin or viewer.role in SYSTEM_ROLES):
        forbidden()
    return viewer


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@pages.route("/sources")
@login_required
def sources() -> str:
    viewer = _system_viewer()
    rows = queries.source_rows(db(), schools_visible(viewer))
    return render_template("sources.html", viewer=viewer, rows=rows, now=now())


@pages.post("/sources/<int:source_id>/resume")
@login_required
def resume_source(source_id: int) -> Response:
    viewer = _system_viewer()
    school_id = queries.source_school(db(), source_id)
    if school_id is None:
        forbidden()
    require_school(school_id)
    with db_begin() as session:
        source = session.get(models.Source, source_id)
        was_paused = bool(source.paused_reason)
        name = source.name or source.key
        sources_module.resume(source, now())
    log.info("source %s resumed from the console by user %s", source_id, viewer.id)
    if was_paused:
        flash(f"{name} resumed: it will be polled again now. If its credentials are still "
              "wrong it will pause again.", "ok")
    else:
        flash(f"{name} was not paused; it will be polled now.", "ok")
    return redirect(url_for("pages.sources") + f"#source-{source_id}", code=303)


@pages.route("/audit")
@login_required
def audit() -> str:
    viewer = current_viewer()
    result = queries.audit(db(), schools_visible(viewer), _page_number(),
                           private_notes=viewer.sees_private_notes)
    return render_template("audit.html", viewer=viewer, result=result,
                           hidden_results=() if viewer.sees_comment_text else WRITTEN_BY_STAFF)


@pages.route("/users")
@login_required
def users() -> str:
    viewer = _system_viewer()
    return render_template("users.html", viewer=viewer,
                           rows=queries.staff_users(db(), schools_visible(viewer)))
