"""Who is signed in, and what they may see.

Every view that shows anything about a school is behind `@login_required`; inside it
`current_viewer()` is the member of staff. Staff see their own school only, trust admins every
school (`schools_visible` is None for them). IT sees sources and users but never comment text;
the DSL's private notes are for the DSL and head. Every refusal is the 403 page (`forbidden()`),
never a listing with something missing that gives the game away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import NoReturn, TypeVar
from urllib.parse import urlencode

from flask import abort, g, redirect, request

ADMIN = "admin"
# Roles that may hide, delete or block a comment, and acknowledge or resolve an incident.
MODERATORS = frozenset({"digital_champion", "dsl", "head", ADMIN})
# Roles that read the DSL's private notes on an incident.
PRIVATE_NOTE_READERS = frozenset({"dsl", "head"})

View = TypeVar("View", bound=Callable)


@dataclass(frozen=True)
class Viewer:
    """A signed-in member of staff, as the pages need them (not the database row)."""

    id: int
    email: str
    name: str
    role: str  # digital_champion, dsl, head, it, or admin (trust-wide)
    school_id: str | None  # None for a trust admin

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def is_it(self) -> bool:
        return self.role == "it"

    @property
    def sees_comment_text(self) -> bool:
        """IT looks after sources and accounts; what people wrote is not theirs to read."""
        return not self.is_it

    @property
    def sees_private_notes(self) -> bool:
        return self.role in PRIVATE_NOTE_READERS

    @property
    def can_moderate(self) -> bool:
        return self.role in MODERATORS

    @property
    def sees_sources(self) -> bool:
        """The sources page (health, errors, pausing) and the staff accounts are IT's, the
        head's who answers for the school, and a trust admin's."""
        return self.is_it or self.is_admin or self.role == "head"

    @property
    def label(self) -> str:
        return self.name or self.email

    def sees_school(self, school_id: str) -> bool:
        return self.school_id is None or self.school_id == school_id


def viewer_or_none() -> Viewer | None:
    """The signed-in member of staff, or None (set for each request by the sign-in code)."""
    return g.get("viewer")


def current_viewer() -> Viewer:
    """The signed-in member of staff, inside a `@login_required` view."""
    viewer = viewer_or_none()
    if viewer is None:
        raise RuntimeError("current_viewer() outside a @login_required view")
    return viewer


def sign_in_location(target: str | None = None) -> str:
    """/sign-in, remembering where to come back to."""
    target = target if target is not None else _here()
    return "/sign-in" + (f"?{urlencode({'next': target})}" if target not in ("", "/") else "")


def _here() -> str:
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def login_required(view: View) -> View:
    """Sends anyone not signed in to the sign-in page, which brings them back here."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if viewer_or_none() is None:
            return redirect(sign_in_location())
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def forbidden() -> NoReturn:
    """Refuse with the 403 page."""
    abort(403)


def require_school(school_id: str) -> Viewer:
    """The viewer, if they may see this school (theirs, or any for a trust admin); else 403."""
    viewer = current_viewer()
    if not viewer.sees_school(school_id):
        forbidden()
    return viewer


def schools_visible(viewer: Viewer) -> list[str] | None:
    """The schools whose records this viewer sees: None means all of them (a trust admin)."""
    return None if viewer.school_id is None else [viewer.school_id]


def require_role(*roles: str) -> Viewer:
    """The viewer, if their role is one of these (a trust admin always is); else 403."""
    viewer = current_viewer()
    if not viewer.is_admin and viewer.role not in roles:
        forbidden()
    return viewer
