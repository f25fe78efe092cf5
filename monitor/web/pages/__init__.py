"""The console's pages: the queue, an incident, sources, the audit trail, staff accounts and the
weekly digests.

Views read through `monitor.web.queries` (filtered by the viewer's schools in SQL) and change
things only through the same functions as the command line (`monitor.incidents`,
`monitor.actions`, `monitor.feedback`, `monitor.sources`). Every form posts, and every post
redirects back with a flash message (post/redirect/get), so a reload never repeats an action.
"""

from __future__ import annotations

from flask import Blueprint

pages = Blueprint("pages", __name__)

# The views register themselves on `pages` when imported.
from monitor.web.pages import admin, digest, filters, incident, queue  # noqa: E402, F401

__all__ = ["pages"]
