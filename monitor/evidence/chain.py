"""A school's evidence chain: append-only entries, each carrying the SHA-256 of its content and of
the entry before it, so that editing, deleting or reordering any entry is detected.

An entry's `entry_hash` is SHA-256 over the previous entry's hash, the school, the sequence
number, the kind and the content's hash. The content itself is hashed in a canonical JSON form
(sorted keys, no spaces, UTF-8), which an exported folder repeats, so a folder can be checked
offline with nothing but this module's rules (`verify_entries`).

Retention and erasure may remove an entry's content, never its hashes: `remove_content` sets it
to None and appends a "removal" entry naming the sequence numbers and why. A removed content
not named by a later removal entry is reported as tampering.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor import models

GENESIS = "0" * 64
REMOVAL = "removal"


def canonical(content: Mapping[str, Any]) -> bytes:
    """The one byte form of a content that is hashed: the same in the database and a folder."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def content_hash(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def entry_hash(prev_hash: str, school_id: str, seq: int, kind: str, content_sha256: str) -> str:
    line = "\n".join((prev_hash, school_id, str(seq), kind, content_sha256))
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def lock(session: Session, school_id: str) -> None:
    """Take the school's chain lock for the rest of the caller's transaction: an UPDATE of its
    row that changes nothing, which is a row lock on PostgreSQL and the database's write lock
    on SQLite. A transaction that also changes incidents takes it before touching them, so two
    transactions never wait for each other in opposite orders.

    It sets a column no foreign key refers to: SQLite checks every row that refers to a key
    column named in an UPDATE (all the school's items, alerts...) even when its value stays the
    same, which made each lock cost as much as the school had items."""
    session.execute(update(models.School).where(models.School.id == school_id)
                    .values(name=models.School.name)
                    .execution_options(synchronize_session=False))


def append(session: Session, school_id: str, kind: str, content: Mapping[str, Any], *,
           now: datetime, incident_id: int | None = None,
           item_id: int | None = None) -> models.EvidenceRecord:
    """Add an entry at the end of the school's chain, in the caller's transaction.

    The school's row is locked first (`lock`), so two writers never read the same chain end.
    The content is stored as its canonical JSON reads back (tuples as lists, keys as strings),
    so what is stored is exactly what was hashed."""
    lock(session, school_id)
    content = json.loads(canonical(content))
    last = session.execute(
        select(models.EvidenceRecord.seq, models.EvidenceRecord.entry_hash)
        .where(models.EvidenceRecord.school_id == school_id)
        .order_by(models.EvidenceRecord.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.entry_hash) if last else (1, GENESIS)
    digest = content_hash(content)
    record = models.EvidenceRecord(
        school_id=school_id, seq=seq, kind=kind, incident_id=incident_id, item_id=item_id,
        recorded_at=now, content=content, content_sha256=digest, prev_hash=prev,
        entry_hash=entry_hash(prev, school_id, seq, kind, digest))
    session.add(record)
    session.flush()
    return record


def remove_content(session: Session, school_id: str, seqs: Iterable[int], reason: str, *,
                   now: datetime) -> int:
    """Remove the content of these entries (retention, erasure), keeping their hashes, and say
    so in a new entry. Returns how many were removed. `reason` is a word such as "retention"
    or "erasure", never anything about whom the content was."""
    # `removed_at`, not `content`, says whether it is still there: a JSON column stores None as
    # the JSON value null, which "IS NOT NULL" does not see. Already removed: not again.
    record = models.EvidenceRecord
    seqs = sorted(session.scalars(select(record.seq).where(
        record.school_id == school_id, record.seq.in_(set(seqs)), record.removed_at.is_(None))))
    if not seqs:
        return 0
    session.execute(update(record)
                    .where(record.school_id == school_id, record.seq.in_(seqs))
                    .values(content=None, removed_at=now)
                    .execution_options(synchronize_session=False))
    append(session, school_id, REMOVAL, {"removed": seqs, "reason": reason,
                                         "at": now.isoformat()}, now=now)
    return len(seqs)


@dataclass(frozen=True)
class Entry:
    """What verification needs of an entry, from the database or an exported folder."""

    school_id: str
    seq: int
    kind: str
    content: Mapping[str, Any] | None
    content_sha256: str
    prev_hash: str
    entry_hash: str

    @classmethod
    def of(cls, row: models.EvidenceRecord) -> Entry:
        return cls(row.school_id, row.seq, row.kind, row.content, row.content_sha256,
                   row.prev_hash, row.entry_hash)


@dataclass(frozen=True)
class Broken:
    """The first entry where the chain does not hold, and why, in words."""

    school_id: str
    seq: int
    why: str

    def __str__(self) -> str:
        return f"school {self.school_id}, entry {self.seq}: {self.why}"


def verify_entries(entries: Sequence[Entry], *, complete: bool = True) -> Broken | None:
    """Check one school's entries in order. `complete` for a whole chain (it must start at 1
    from the genesis hash and have no gaps); an exported folder holds a selection, so each entry
    is checked on its own and against its predecessor only when that is present too."""
    removed_by_later: set[int] = set()
    for entry in entries:
        if entry.kind == REMOVAL and entry.content is not None:
            removed_by_later.update(int(s) for s in entry.content.get("removed", ()))
    previous: Entry | None = None
    for entry in entries:
        if previous is not None and entry.seq <= previous.seq:
            return Broken(entry.school_id, entry.seq,
                          f"out of order: it comes after entry {previous.seq}")
        if complete:
            expected_seq = previous.seq + 1 if previous else 1
            if entry.seq != expected_seq:
                return Broken(entry.school_id, expected_seq,
                              f"missing: the chain goes from {expected_seq - 1} to {entry.seq}")
        expected_prev = previous.entry_hash if previous else (GENESIS if complete else None)
        adjacent = previous is not None and entry.seq == previous.seq + 1
        if expected_prev is not None and (complete or adjacent) \
                and entry.prev_hash != expected_prev:
            return Broken(entry.school_id, entry.seq,
                          "its link to the entry before does not match (an entry was changed, "
                          "deleted or moved)")
        if entry.content is None:
            if entry.seq not in removed_by_later:
                return Broken(entry.school_id, entry.seq,
                              "its content is gone and no removal entry accounts for it")
        elif content_hash(entry.content) != entry.content_sha256:
            return Broken(entry.school_id, entry.seq,
                          "its content does not match its SHA-256 (it was edited)")
        if entry_hash(entry.prev_hash, entry.school_id, entry.seq, entry.kind,
                      entry.content_sha256) != entry.entry_hash:
            return Broken(entry.school_id, entry.seq, "its chain hash does not match")
        previous = entry
    return None


@dataclass(frozen=True)
class ChainReport:
    school_id: str
    entries: int
    removed: int
    head: str  # the last entry's hash: written down, it pins the whole chain
    broken: Broken | None


def verify_school(session: Session, school_id: str) -> ChainReport:
    rows = session.scalars(select(models.EvidenceRecord)
                           .where(models.EvidenceRecord.school_id == school_id)
                           .order_by(models.EvidenceRecord.seq))
    entries = [Entry.of(row) for row in rows]
    return ChainReport(school_id, len(entries),
                       sum(1 for e in entries if e.content is None),
                       entries[-1].entry_hash if entries else GENESIS,
                       verify_entries(entries))


def schools_with_evidence(session: Session) -> list[str]:
    return list(session.scalars(select(models.EvidenceRecord.school_id)
                                .group_by(models.EvidenceRecord.school_id)
                                .order_by(models.EvidenceRecord.school_id)))


def count(session: Session, school_id: str) -> int:
    return session.scalar(select(func.count()).select_from(models.EvidenceRecord)
                          .where(models.EvidenceRecord.school_id == school_id)) or 0
