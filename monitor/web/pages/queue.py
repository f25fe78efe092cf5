"""The queue: incidents that still need someone, the most serious first."""

from __future__ import annotations

from dataclasses import replace

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from classifiers.base import CATEGORIES
from monitor.web import queries
from monitor.web.access import current_viewer, login_required, schools_visible
from monitor.web.context import db
from monitor.web.pages import pages
from monitor.web.pages.filters import harm_labels


@pages.route("/")
@login_required
def queue() -> str | Response:
    viewer = current_viewer()
    if not viewer.sees_comment_text:
        # IT looks after sources and accounts, not incidents: their start page is the sources.
        return redirect(url_for("pages.sources"))
    session = db()
    schools = schools_visible(viewer)
    filters = queries.QueueFilters.from_args(request.args)
    if schools is not None and filters.school not in ("", *schools):
        # A school the viewer may not see is ignored (their own incidents are shown), not
        # refused: a refusal would confirm it exists. The query keeps to their schools anyway.
        filters = replace(filters, school="")
    result = queries.queue(session, schools, filters)
    school_choices = queries.school_choices(session, schools)
    return render_template(
        "queue.html", viewer=viewer, result=result, filters=filters,
        schools=school_choices if schools is None or len(school_choices) > 1 else [],
        platforms=queries.platform_choices(session, schools),
        categories=CATEGORIES, harms=harm_labels(), statuses=queries.STATUSES)
