"""Staff corrections of verdicts: what an item really is, recorded for the school's own adjustment
to the model (`monitor.adjustments`).

The command line (`hallmonitor feedback`) and the staff console call these same functions. A
correction is written with an entry in the audit trail; it names categories only, never the
comment's text, so the trail keeps nothing that retention has removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from classifiers.base import CATEGORIES
from monitor import models


class FeedbackError(ValueError):
    """A correction that cannot be recorded: no such item, an unknown category, or neither or
    both of "not a problem" and categories."""


@dataclass(frozen=True)
class Correction:
    """The latest correction of one item, with the item's text: one example to learn from."""

    item_id: int
    text: str
    categories: tuple[str, ...]


def checked_categories(categories: Iterable[str], not_a_problem: bool) -> tuple[str, ...]:
    """The categories of a correction in their usual order, or FeedbackError."""
    given = [c.strip() for c in categories]
    if not_a_problem and given:
        raise FeedbackError("give either --not-a-problem or --category, not both")
    if not not_a_problem and not given:
        raise FeedbackError("say what the item is: --not-a-problem, or --category CAT "
                            "(repeatable)")
    unknown = [c for c in given if c not in CATEGORIES]
    if unknown:
        raise FeedbackError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} "
                            f"{', '.join(map(repr, unknown))}; the categories are "
                            f"{', '.join(CATEGORIES)}")
    return tuple(c for c in CATEGORIES if c in given)


def correct(sessions: sessionmaker[Session], item_id: int, *, categories: Iterable[str] = (),
            not_a_problem: bool = False, by: str) -> models.Feedback:
    """Record that ITEM belongs to `categories` only (or, with `not_a_problem`, to none),
    replacing its verdict's categories for the school's adjustment."""
    chosen = checked_categories(categories, not_a_problem)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        item = session.get(models.Item, item_id)
        if item is None:
            raise FeedbackError(f"no item with id {item_id} (see 'hallmonitor items list')")
        feedback = models.Feedback(item_id=item.id, school_id=item.school_id,
                                   categories=list(chosen), not_a_problem=not_a_problem,
                                   corrected_by=by, created_at=now)
        session.add(feedback)
        session.add(models.Action(item_id=item.id, action="correct", actor=by, ok=True,
                                  result=describe(chosen), created_at=now))
    return feedback


def describe(categories: Iterable[str]) -> str:
    categories = list(categories)
    return f"is {', '.join(categories)}" if categories else "is not a problem"


def corrections(session: Session, school_id: str) -> list[Correction]:
    """The school's corrected items, each with its latest correction, in item order."""
    latest: dict[int, tuple[models.Feedback, str]] = {}
    rows = session.execute(
        select(models.Feedback, models.Item.text)
        .join(models.Item, models.Item.id == models.Feedback.item_id)
        .where(models.Feedback.school_id == school_id)
        .order_by(models.Feedback.created_at, models.Feedback.id))
    for feedback, text in rows:
        latest[feedback.item_id] = (feedback, text)
    return [Correction(item_id, text, tuple(feedback.categories))
            for item_id, (feedback, text) in sorted(latest.items())]
