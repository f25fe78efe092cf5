"""The records of the design, in SQLAlchemy 2.x. Every timestamp is stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, on SQLite (no time zones) as on PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class School(Base):
    __tablename__ = "school"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    pupil_names_path: Mapped[str | None] = mapped_column(String(500))


class Source(Base):
    """One thing to poll. Its schedule state (next poll, lease, failures) lives here, not in the
    scheduler, so any daemon sharing the database can pick it up."""

    __tablename__ = "source"

    id: Mapped[int] = mapped_column(primary_key=True)
    # school/platform/account/kind: stable across restarts and config edits.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("school.id"))
    platform: Mapped[str] = mapped_column(String(32))  # the connector
    item_platform: Mapped[str] = mapped_column(String(32))  # where its items live
    kind: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    poll_interval: Mapped[float] = mapped_column(Float, default=300.0)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_poll_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when the platform said the credentials are wrong: polling stops until IT fixes them.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None]
    # A short one-way fingerprint of the credentials that were refused (never the secret itself):
    # a restart with different credentials resumes the source, the same ones keep it paused.
    paused_fingerprint: Mapped[str | None] = mapped_column(String(32))
    # Start of the current run of failed polls (None while polls succeed), and whether IT has
    # been told about this run: once when it has lasted too long, once again on recovery.
    failing_since: Mapped[datetime | None]
    failure_notified: Mapped[bool] = mapped_column(Boolean, default=False)


class PollRun(Base):
    """One poll of one source: what it found and what it cost. Feeds `hallmonitor sources`."""

    __tablename__ = "poll_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(Integer, default=0)
    new_items: Mapped[int] = mapped_column(Integer, default=0)
    reads: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The source's first poll reads its backlog: costs are estimated from the polls after it.
    backfill: Mapped[bool] = mapped_column(Boolean, default=False)


class PaidRead(Base):
    """A resource a pay-per-read API charged for (X: a post or a user), once per UTC day: the
    same resource read again that day costs nothing more, so it is recorded once."""

    __tablename__ = "paid_read"
    __table_args__ = (
        UniqueConstraint("platform", "resource", "day", name="uq_paid_read_resource_day"),
        Index("ix_paid_read_source_day", "source_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    # "post:<id>" or "user:<id>": the kinds are priced differently.
    resource: Mapped[str] = mapped_column(String(120))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"))
    backfill: Mapped[bool] = mapped_column(Boolean, default=False)


class Item(Base):
    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_item_platform_external_id"),
        Index("ix_item_school_created", "school_id", "created_at"),
        # Repeat offenders are looked up by author on every page.
        Index("ix_item_platform_author", "platform", "author_id"),
        # The console shows the rest of an incident's thread.
        Index("ix_item_conversation", "conversation_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), index=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("school.id"))
    kind: Mapped[str] = mapped_column(String(32))
    author_id: Mapped[str] = mapped_column(String(200), default="")
    author_handle: Mapped[str] = mapped_column(String(200), default="")
    author_name: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    permalink: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[str] = mapped_column(String(200), default="")
    conversation_id: Mapped[str] = mapped_column(String(200), default="")
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    verdict: Mapped[Verdict | None] = relationship(back_populates="item", uselist=False)


class Verdict(Base):
    __tablename__ = "verdict"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), unique=True)
    model_version: Mapped[str] = mapped_column(String(100))
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    severity: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship(back_populates="verdict")


class Incident(Base):
    """Flagged items that belong together (one thread, one pile-on): one alert, then updates."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("school.id"), index=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, acknowledged, resolved
    severity: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_item_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # What kind of harm: safeguarding, threat, personal_data or hostility. Each is handled by
    # different people with different steps, so two kinds never share an incident.
    harm: Mapped[str] = mapped_column(String(32), default="hostility")
    # Set when resolved: hidden, deleted, blocked, reported_to_platform, reported_to_police,
    # referred_to_lado or no_action; cleared when reopened. The trail is in `Action`.
    outcome: Mapped[str | None] = mapped_column(String(32))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    # Evidence hold: set when the incident's evidence is exported (or by `incidents hold`);
    # while set, retention and erasure leave the incident's items and evidence alone.
    held_at: Mapped[datetime | None]
    held_by: Mapped[str | None] = mapped_column(String(200))
    hold_reason: Mapped[str | None] = mapped_column(Text)


class IncidentItem(Base):
    __tablename__ = "incident_item"
    # Whether an item is in an incident is asked of every item retention looks at.
    __table_args__ = (Index("ix_incident_item_item_id", "item_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"),
                                         primary_key=True)


class Alert(Base):
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Same key, same alert: the unique index is what stops anyone being told twice.
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    # None for a trust's weekly roll-up, which is about all its schools.
    school_id: Mapped[str | None] = mapped_column(ForeignKey("school.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # item, update, digest, delivery_dead, ...
    severity: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"))
    # Indexed: retention and erasure ask for an incident's alerts.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # The message's parts (what, who, when, where, why, next, links), so that each channel can
    # be given its own format (HTML email, markdown, text); `body` is the plain-text rendering.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="alert")
    item: Mapped[Item | None] = relationship()


class Delivery(Base):
    """The outbox: one row per alert and destination, sent by the delivery job."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("alert_id", "destination", name="uq_delivery_alert_destination"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"))
    # The Apprise URL as written in the config: a reference (env:NAME) or a URL without secrets.
    destination: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    # pending -> sending -> sent | pending (failed, retried) | dead; "unknown" when a send was
    # handed over and its outcome never recorded (a crash, a timeout): resolved deliberately,
    # never retried blindly; "superseded" for an IT notice's other copies once one arrived.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]
    # A resend after an unknown outcome: the message says it may be a repeat.
    possible_repeat: Mapped[bool] = mapped_column(Boolean, default=False)

    alert: Mapped[Alert] = relationship(back_populates="deliveries")


class Action(Base):
    """The audit trail: every moderation action and decision, who took it and what came of it."""

    __tablename__ = "action"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed: an incident's page shows its trail and its items' actions.
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"),
                                                index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[str] = mapped_column(Text, default="")


class Feedback(Base):
    """A member of staff's correction of an item's verdict: the categories it really belongs to
    (none when it is not a problem). The school's adjustment to the model is learned from these.
    They stay in the school's database and go with their item when retention removes it."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("school.id"), index=True)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    not_a_problem: Mapped[bool] = mapped_column(Boolean, default=False)
    corrected_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchoolAdjustment(Base):
    """What a school's corrections taught, applied on top of the shipped model it was learned
    for (`classifiers.adjustment.Adjustment` as a payload). One per school: training replaces it."""

    __tablename__ = "school_adjustment"

    school_id: Mapped[str] = mapped_column(ForeignKey("school.id"), primary_key=True)
    base_version: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    corrections: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What held-out corrections said before and after (see monitor.adjustments).
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StaffUser(Base):
    """A member of staff who signs in to the console: one school and one role, or a trust-wide
    admin (no school)."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200), default="")
    # digital_champion, dsl, head, it, or admin (trust-wide)
    role: Mapped[str] = mapped_column(String(32))
    school_id: Mapped[str | None] = mapped_column(ForeignKey("school.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped when the password is reset or the account disabled: older sessions stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]


class UsedLink(Base):
    """One-time links (sign-in, acknowledge from an alert) already spent: a link is honoured
    once, and the unique key settles a race between two clicks."""

    __tablename__ = "used_link"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class Setting(Base):
    """Values the daemon generates once and keeps, such as the console's signing key when the
    config gives none."""

    __tablename__ = "setting"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Follower(Base):
    """One account that follows (or followed) a `followers` source's account, keyed by its
    platform id: a handle change updates the row (and is recorded as an event), never a new one."""

    __tablename__ = "follower"
    __table_args__ = (
        UniqueConstraint("source_id", "account_id", name="uq_follower_source_account"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(64))  # the follower's platform id
    handle: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text, default="")
    # created_at, posts, following, default_image: as the platform said at the last sync.
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    followed_at: Mapped[datetime | None]
    unfollowed_at: Mapped[datetime | None]  # None while following
    # When a sync last saw them following: a full sync marks everyone it reads, so those it
    # did not reach (older than its start) have unfollowed.
    last_seen_at: Mapped[datetime | None]
    screening: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class FollowerEvent(Base):
    """What happened to a follower and when: follow, unfollow, refollow, handle_change,
    name_change (with {"from": ..., "to": ...} in `detail` for a change)."""

    __tablename__ = "follower_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("follower.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WatchlistEntry(Base):
    """An account or a pattern IT is concerned about, for one school or (school None) the trust.
    The match is either a platform account (its id, or a handle until resolved) or a pattern on
    handle or display name."""

    __tablename__ = "watchlist_entry"
    __table_args__ = (Index("ix_watchlist_entry_platform_account", "platform", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[str | None] = mapped_column(ForeignKey("school.id"))  # None: the trust
    platform: Mapped[str | None] = mapped_column(String(32))  # None: a pattern on any platform
    account_id: Mapped[str | None] = mapped_column(String(64))
    handle: Mapped[str | None] = mapped_column(String(100))
    pattern: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(200))


class EvidenceRecord(Base):
    """One entry in a school's append-only evidence chain: an item as it was when alerted or
    before it was hidden or deleted, or a later step (an action, an acknowledgement, a hold).

    `content_sha256` is the SHA-256 of the canonical JSON of `content`; `entry_hash` is the
    SHA-256 of the previous entry's `entry_hash` (`prev_hash`, 64 zeros for the first), this
    entry's school, sequence number, kind and `content_sha256`. Editing, deleting or reordering
    any entry breaks the chain from there. Retention and erasure may remove `content` (set it to
    None and `removed_at`), never the hashes, and say so in a later entry of the chain."""

    __tablename__ = "evidence_record"
    __table_args__ = (UniqueConstraint("school_id", "seq", name="uq_evidence_school_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[str] = mapped_column(ForeignKey("school.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... per school
    kind: Mapped[str] = mapped_column(String(32))
    # Plain columns, not foreign keys: evidence outlives the rows it was taken from.
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    item_id: Mapped[int | None] = mapped_column(Integer, index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None]


class DataRemoval(Base):
    """That retention or an erasure removed data, and how much: counts per kind of record,
    never what was removed or whose it was."""

    __tablename__ = "data_removal"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # retention, erasure
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    by: Mapped[str] = mapped_column(String(200), default="")
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
