"""An incident's evidence as a folder a head can hand over (to the police, the LADO), and the
offline check of such a folder.

The folder holds a readable report (`report.html`), every chain entry of the incident as JSON
(`records/NNNN.json`, NNNN its place in the school's chain), each raw payload as the platform
returned it (`payloads/`), a manifest of every file's SHA-256 and the chain hashes
(`manifest.json`), and `SHA256SUMS` for `sha256sum -c`. Checking it needs only the folder and
the chain's rules (`chain.verify_entries`): no database, no network.

Exporting puts the incident under evidence hold, in the transaction that reads its records, so
nothing in the folder can be removed from the database by retention until the hold is released.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitor import incidents, models
from monitor.config import Config
from monitor.evidence import chain

FORMAT = "hallmonitor evidence export 1"
REPORT = "report.html"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
RECORDS = "records"
PAYLOADS = "payloads"
# How the hashes are made, in the manifest, so that someone without this program can redo them.
HASH_RULES = {
    "content_sha256": "SHA-256 of the record's content as JSON with keys sorted, no spaces "
                      "(separators ',' and ':'), non-ASCII characters as UTF-8, not escaped",
    "entry_hash": "SHA-256 of five lines joined by a newline: prev_hash, school_id, seq, kind, "
                  "content_sha256",
    "prev_hash": "the entry_hash of the entry before it in the school's chain (64 zeros for "
                 "the first entry)",
}
NO_EVIDENCE = ("a comment is recorded when it is alerted as high or urgent, before it is "
               "hidden or deleted, and when its incident is put under evidence hold")


class ExportError(Exception):
    """Why an incident cannot be exported, in one line."""


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    records: int
    payloads: int
    files: int
    held: bool  # this export put the incident under evidence hold (False: it already was)

    def lines(self) -> list[str]:
        hold = ("the incident is now under evidence hold: retention leaves it alone until "
                "the hold is released" if self.held
                else "the incident was already under evidence hold, which stays")
        return [f"exported {self.records} evidence record(s) and {self.payloads} raw "
                f"payload(s) to {self.out_dir} ({self.files} files)",
                hold,
                f"open {self.out_dir / REPORT} to read or print it; check the folder with "
                f"'hallmonitor evidence verify {self.out_dir}'"]


@dataclass(frozen=True)
class Snapshot:
    """Everything an export writes, read in one transaction: the report is made from this, so
    it says no more and no less than the records beside it."""

    school: dict[str, str]  # id, name, timezone
    incident: dict[str, Any]
    records: list[dict[str, Any]]  # as written to records/, in chain order
    head: dict[str, Any]  # the school's chain end at export time: seq, entry_hash
    exported_at: datetime
    exported_by: str

    @property
    def timezone(self) -> str:
        return self.school["timezone"]


# --- exporting ----------------------------------------------------------------------------------

def export_incident(config: Config, sessions: sessionmaker[Session], incident_id: int,
                    out_dir: Path, actor: str, *, now: datetime | None = None) -> ExportResult:
    """Write the incident's evidence folder at `out_dir` (new, or an empty folder) and put the
    incident under evidence hold. The folder appears whole or not at all."""
    from monitor.evidence import report

    now = now or datetime.now(UTC)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    actor = (actor or "").strip()
    if not actor:
        raise ExportError("say who is exporting (--by): the report and the trail name them")
    parent = out_dir.absolute().parent
    if not parent.is_dir():
        raise ExportError(f"{parent} is not a folder: create it first")
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    moved = False
    try:
        with sessions.begin() as session:
            incident = _incident(session, incident_id)
            # The hold first: it is a step of the incident's evidence, so the folder shows it.
            held = incidents.record_hold(session, incident, actor, now,
                                         reason=f"evidence exported to {out_dir.name}") \
                is not None
            session.flush()
            rows = _records(session, incident)
            # Steps alone (the hold just recorded) are nothing to hand over. The transaction
            # rolls back: no hold for an export not made.
            if not any(row.kind == "item" for row in rows):
                raise ExportError(f"incident {incident_id} has no evidence records to export: "
                                  f"none of its comments is in the evidence chain ({NO_EVIDENCE})")
            snapshot = _snapshot(config, session, incident, rows, actor, now)
            result = _write(staging, snapshot, report.render(snapshot))
            _move_into_place(staging, out_dir)
            moved = True
    except BaseException:
        # Not held (the transaction rolled back): no folder says it is.
        shutil.rmtree(out_dir if moved else staging, ignore_errors=True)
        raise
    return ExportResult(out_dir, result[0], result[1], result[2], held)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder: name a new folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} already exists and is not empty: name a new folder "
                          "(an export never overwrites anything)")


def _incident(session: Session, incident_id: int) -> models.Incident:
    try:
        return incidents.get(session, incident_id)
    except incidents.IncidentError as exc:
        raise ExportError(str(exc)) from None


def _records(session: Session, incident: models.Incident) -> list[models.EvidenceRecord]:
    """The incident's entries (its items as recorded, the steps taken about it and its items)
    and the removal entries that account for any whose content was removed, in chain order."""
    item_ids = select(models.IncidentItem.item_id).where(
        models.IncidentItem.incident_id == incident.id)
    school = models.EvidenceRecord.school_id == incident.school_id
    rows = list(session.scalars(
        select(models.EvidenceRecord)
        .where(school, models.EvidenceRecord.kind != chain.REMOVAL,
               or_(models.EvidenceRecord.incident_id == incident.id,
                   models.EvidenceRecord.item_id.in_(item_ids)))
        .order_by(models.EvidenceRecord.seq)))
    removed = {row.seq for row in rows if row.content is None}
    if removed:
        # Without the entry that says why, a removed content reads as tampering.
        removals = session.scalars(select(models.EvidenceRecord).where(
            school, models.EvidenceRecord.kind == chain.REMOVAL))
        rows += [row for row in removals
                 if row.content and removed & {int(s) for s in row.content.get("removed", ())}]
        rows.sort(key=lambda row: row.seq)
    return rows


def _snapshot(config: Config, session: Session, incident: models.Incident,
              rows: Sequence[models.EvidenceRecord], actor: str, now: datetime) -> Snapshot:
    school = config.find_school(incident.school_id)
    timezone = config.school_timezone(school) if school else config.daemon.timezone
    head = session.execute(
        select(models.EvidenceRecord.seq, models.EvidenceRecord.entry_hash)
        .where(models.EvidenceRecord.school_id == incident.school_id)
        .order_by(models.EvidenceRecord.seq.desc()).limit(1)).one()
    return Snapshot(
        school={"id": incident.school_id, "name": config.school_name(incident.school_id),
                "timezone": timezone},
        incident=_incident_summary(incident),
        records=[record_json(row) for row in rows],
        head={"seq": head.seq, "entry_hash": head.entry_hash},
        exported_at=now, exported_by=actor)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _incident_summary(incident: models.Incident) -> dict[str, Any]:
    return {
        "id": incident.id, "harm": incident.harm, "severity": incident.severity,
        "categories": list(incident.categories or ()), "status": incident.status,
        "outcome": incident.outcome, "items": incident.item_count,
        "opened_at": _iso(incident.opened_at), "last_item_at": _iso(incident.last_item_at),
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "resolved_by": incident.resolved_by, "resolved_at": _iso(incident.resolved_at),
        "held_by": incident.held_by, "held_at": _iso(incident.held_at),
        "hold_reason": incident.hold_reason,
    }


def record_json(row: models.EvidenceRecord) -> dict[str, Any]:
    """An entry as its records/ file holds it: the content exactly as hashed, and its hashes."""
    return {
        "seq": row.seq, "kind": row.kind, "school_id": row.school_id,
        "incident_id": row.incident_id, "item_id": row.item_id,
        "recorded_at": _iso(row.recorded_at), "removed_at": _iso(row.removed_at),
        "content": row.content, "content_sha256": row.content_sha256,
        "prev_hash": row.prev_hash, "entry_hash": row.entry_hash,
    }


def record_file(seq: int) -> str:
    return f"{RECORDS}/{seq:04d}.json"


def payload_name(platform: str, external_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{platform}-{external_id}").strip("._") or "payload"


def _payloads(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Any, list[int]]]:
    """Each raw payload by its file name, with the records it came from. An item recorded twice
    with the same payload has one file; with a different one, a second file named by entry."""
    found: dict[str, tuple[Any, list[int]]] = {}
    for record in records:
        content = record["content"]
        if record["kind"] != "item" or not content or content.get("raw") is None:
            continue
        item = content.get("item") or {}
        base = payload_name(str(item.get("platform", "")), str(item.get("external_id", "")))
        name = f"{PAYLOADS}/{base}.json"
        if name in found and found[name][0] != content["raw"]:
            name = f"{PAYLOADS}/{base}-entry{record['seq']}.json"
        found.setdefault(name, (content["raw"], []))[1].append(record["seq"])
    return found


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write(folder: Path, snapshot: Snapshot, report_html: str) -> tuple[int, int, int]:
    """Write the folder's files; returns how many records, payloads and files."""
    files: dict[str, bytes] = {REPORT: report_html.encode("utf-8")}
    for record in snapshot.records:
        files[record_file(record["seq"])] = _json_bytes(record)
    payloads = _payloads(snapshot.records)
    for name, (raw, _) in payloads.items():
        files[name] = _json_bytes(raw)
    manifest = _manifest(snapshot, files, payloads)
    files[MANIFEST] = _json_bytes(manifest)
    files[SUMS] = "".join(f"{_sha256(data)}  {name}\n"
                          for name, data in sorted(files.items())).encode("utf-8")
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return len(snapshot.records), len(payloads), len(files)


def _manifest(snapshot: Snapshot, files: Mapping[str, bytes],
              payloads: Mapping[str, tuple[Any, list[int]]]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "school": snapshot.school,
        "incident_id": snapshot.incident["id"],
        "incident": snapshot.incident,
        "exported_at": _iso(snapshot.exported_at),
        "exported_by": snapshot.exported_by,
        "chain_head": snapshot.head,
        "entries": [{"seq": r["seq"], "kind": r["kind"], "file": record_file(r["seq"]),
                     "content_removed": r["content"] is None,
                     "content_sha256": r["content_sha256"], "prev_hash": r["prev_hash"],
                     "entry_hash": r["entry_hash"]} for r in snapshot.records],
        "payloads": [{"file": name, "records": seqs}
                     for name, (_, seqs) in sorted(payloads.items())],
        "files": [{"path": name, "sha256": _sha256(data), "size": len(data)}
                  for name, data in sorted(files.items())],
        "hash_rules": HASH_RULES,
        "check": f"hallmonitor evidence verify FOLDER, or sha256sum -c {SUMS} in the folder",
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if out_dir.is_dir():
        out_dir.rmdir()  # empty, checked before; an export never overwrites
    os.replace(staging, out_dir)
    # mkdtemp made it owner-only; the folder is for handing over, like any other the user makes
    os.chmod(out_dir, 0o777 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# --- checking a folder, offline -----------------------------------------------------------------

@dataclass
class FolderReport:
    ok: bool
    problems: list[str]
    checked: int  # files whose SHA-256 was checked
    records: int = 0
    payloads: int = 0
    head: str = ""

    def lines(self) -> list[str]:
        if self.ok:
            return [f"OK: {self.checked} files, {self.records} chain entries and "
                    f"{self.payloads} raw payloads checked; nothing was altered",
                    f"chain head at export: {self.head}"]
        return [f"ALTERED: {len(self.problems)} problem(s) found "
                f"({self.checked} files checked)"] + [f"  - {p}" for p in self.problems]


@dataclass
class _Check:
    folder: Path
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def verify_folder(path: Path) -> FolderReport:
    """Whether an exported folder is as it was written: every file against the manifest, every
    record against its own hashes and its neighbours, every payload against its record."""
    path = Path(path)
    if not path.is_dir():
        return FolderReport(False, [f"{path} is not a folder"], 0)
    check = _Check(path)
    manifest = _load_json(check, MANIFEST)
    if not isinstance(manifest, dict):
        if (path / MANIFEST).is_file():
            return FolderReport(False, check.problems, 0)
        return FolderReport(False, [f"{path} has no {MANIFEST}: it is not an exported "
                                    "evidence folder, or its manifest was deleted"], 0)
    try:
        _check_files(check, manifest)
        records = _check_records(check, manifest)
        payloads = _check_payloads(check, manifest, records)
        head = str((manifest.get("chain_head") or {}).get("entry_hash", ""))
    except (AttributeError, KeyError, TypeError, ValueError):
        check.problem(f"{MANIFEST} is not laid out as an export's manifest: it was altered")
        return FolderReport(False, check.problems, check.checked)
    return FolderReport(not check.problems, check.problems, check.checked, len(records),
                        payloads, head)


def _inside(name: str) -> bool:
    """Whether a name from the manifest stays inside the folder: a checker must never be sent
    to read other files."""
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _load_json(check: _Check, name: str) -> Any:
    if not _inside(name):
        check.problem(f"{MANIFEST} names {name!r}, which is not a file of the folder: "
                      "it was altered")
        return None
    try:
        return json.loads((check.folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        check.problem(f"{name} cannot be read as JSON ({type(exc).__name__}): it was altered")
        return None


def _folder_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _check_files(check: _Check, manifest: Mapping[str, Any]) -> None:
    listed = {str(f.get("path")): f for f in manifest.get("files") or () if isinstance(f, dict)}
    present = _folder_files(check.folder)
    for name in sorted(present - set(listed) - {MANIFEST, SUMS}):
        check.problem(f"{name}: an extra file, not in the manifest")
    for name, entry in sorted(listed.items()):
        if not _inside(name):
            check.problem(f"{MANIFEST} names {name!r}, which is not a file of the folder: "
                          "it was altered")
            continue
        if name not in present:
            check.problem(f"{name}: missing (the manifest lists it)")
            continue
        data = (check.folder / name).read_bytes()
        check.checked += 1
        if _sha256(data) != entry.get("sha256") or len(data) != entry.get("size"):
            check.problem(f"{name}: changed (its SHA-256 does not match the manifest)")
    _check_sums(check, listed)


def _check_sums(check: _Check, listed: Mapping[str, Mapping[str, Any]]) -> None:
    """SHA256SUMS covers the manifest too: a manifest edited to match an edited file shows."""
    try:
        text = (check.folder / SUMS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        check.problem(f"{SUMS}: missing or unreadable")
        return
    check.checked += 1
    sums: dict[str, str] = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if name:
            sums[name] = digest
    expected = set(listed) | {MANIFEST}
    for name in sorted(expected - set(sums)):
        check.problem(f"{SUMS}: does not list {name}")
    for name in sorted(set(sums) - expected):
        check.problem(f"{SUMS}: lists {name}, which the manifest does not")
    manifest_path = check.folder / MANIFEST
    if MANIFEST in sums:
        check.checked += 1
        if _sha256(manifest_path.read_bytes()) != sums[MANIFEST]:
            check.problem(f"{MANIFEST}: changed (its SHA-256 does not match {SUMS})")
    for name, entry in listed.items():
        if name in sums and sums[name] != entry.get("sha256"):
            check.problem(f"{SUMS}: its sum for {name} differs from the manifest's")


def _check_records(check: _Check, manifest: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Each listed record against the manifest, then all of them by the chain's rules."""
    records: dict[int, dict[str, Any]] = {}
    entries: list[chain.Entry] = []
    school = str((manifest.get("school") or {}).get("id", ""))
    for listed in manifest.get("entries") or ():
        seq, name = listed.get("seq"), str(listed.get("file", ""))
        record = _load_json(check, name)
        if record is None:
            check.problem(f"entry {seq}: its record {name} is missing or unreadable")
            continue
        if not isinstance(record, dict):
            check.problem(f"entry {seq}: {name} is not a record")
            continue
        differs = [key for key in ("seq", "kind", "content_sha256", "prev_hash", "entry_hash")
                   if record.get(key) != listed.get(key)]
        if record.get("school_id") != school:
            differs.append("school_id")
        if differs:
            check.problem(f"entry {seq}: {name} does not match the manifest "
                          f"({', '.join(differs)}): it was altered or swapped")
        try:
            entry = chain.Entry(str(record["school_id"]), int(record["seq"]),
                                str(record["kind"]), record["content"],
                                str(record["content_sha256"]), str(record["prev_hash"]),
                                str(record["entry_hash"]))
        except (KeyError, TypeError, ValueError):
            check.problem(f"entry {seq}: {name} lacks a record's fields: it was altered")
            continue
        records[entry.seq] = record
        entries.append(entry)
    broken = chain.verify_entries(entries, complete=False)
    if broken is not None:
        check.problem(f"chain entry {broken.seq} ({record_file(broken.seq)}): {broken.why}")
    return records


def _check_payloads(check: _Check, manifest: Mapping[str, Any],
                    records: Mapping[int, Mapping[str, Any]]) -> int:
    listed_for: dict[int, str] = {}
    payloads = 0
    for listed in manifest.get("payloads") or ():
        name = str(listed.get("file", ""))
        payload = _load_json(check, name)
        if payload is None:
            check.problem(f"{name}: missing or unreadable (a raw payload)")
            continue
        payloads += 1
        for seq in listed.get("records") or ():
            listed_for[int(seq)] = name
            content = (records.get(int(seq)) or {}).get("content")
            if isinstance(content, dict) and content.get("raw") != payload:
                check.problem(f"{name}: does not match the raw payload in entry {seq} "
                              f"({record_file(int(seq))})")
    for seq, record in sorted(records.items()):
        content = record.get("content")
        if record.get("kind") == "item" and isinstance(content, dict) \
                and content.get("raw") is not None and seq not in listed_for:
            check.problem(f"entry {seq}: its raw payload has no file in {PAYLOADS}/")
    return payloads
