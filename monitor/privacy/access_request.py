"""A subject access request answered: everything `find` found about one person, written out as
JSON with the purposes and retention periods in plain words (roles, never staff addresses)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.privacy.holdings import Holdings

PURPOSES = (
    "The school watches its own social media accounts, and public posts that mention it, to "
    "moderate its pages (removing abuse as its social media policy says), to keep children "
    "safe (threats, safeguarding concerns and pupils' personal data are passed at once to the "
    "staff responsible) and to answer questions, complaints and media enquiries. Comments are "
    "classified automatically; staff decide what is done. Pupils' own accounts are not "
    "monitored.")


# --- a subject access request --------------------------------------------------------------------

def _when(value: datetime | None, timezone: str) -> dict[str, str] | None:
    if value is None:
        return None
    local = value.astimezone(ZoneInfo(timezone))
    return {"utc": value.astimezone(UTC).isoformat(),
            "local": f"{local:%Y-%m-%d %H:%M} ({local.tzname()})"}


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def retention_explained(retention: dict[str, int]) -> dict[str, str]:
    return {
        "raw_payloads": f"The data each platform sent with a post is deleted after "
                        f"{retention.get('raw_payload_days')} days.",
        "unflagged_items": f"Posts nobody needed to act on lose their text and author after "
                           f"{retention.get('unflagged_text_days')} days; only counts are kept.",
        "flagged_items": f"Posts that were flagged, and the evidence about them, are kept for "
                         f"{retention.get('flagged_days')} days after their incident is "
                         "resolved.",
        "evidence_hold": "An incident placed under evidence hold (for the police, the local "
                         "authority designated officer or a tribunal) is kept until the hold "
                         "is released.",
        "watchlist": "An entry on the IT watchlist is kept while the concern lasts: until it "
                     "is removed or expires.",
    }


def export_holdings(holdings: Holdings) -> dict[str, Any]:
    """Everything held about the person, ready to be written as JSON for a subject access
    request: what, when, where, why it was flagged, who was told (roles, not addresses), what
    was done, which evidence is under hold; with the purposes and how long each is kept. Staff
    names and addresses are left out: they are other people's data."""
    def tz(school_id: str | None) -> str:
        return holdings.timezones.get(school_id or "", "Europe/London")

    return {
        "request": {"who": holdings.who, "platform": holdings.platform,
                    "produced_utc": _utc(holdings.found_at)},
        "accounts": [{"platform": a.platform, "ids": sorted(a.ids),
                      "handles": sorted(a.handles), "names": sorted(a.names)}
                     for a in holdings.accounts],
        "purposes": PURPOSES,
        "retention": retention_explained(holdings.retention),
        "items": [{
            "id": i.id, "school": i.school_id, "platform": i.platform, "kind": i.kind,
            "text": i.text, "author": i.author, "when": _when(i.created_at, tz(i.school_id)),
            "collected_utc": _utc(i.fetched_at), "where": i.permalink or None,
            "platform_id": i.external_id, "raw_payload": i.raw,
            "why_flagged": _why(i.verdict), "incidents": i.incident_ids,
            "who_was_told": i.told,
            "what_was_done": [{**a, "at": _utc(a["at"])} for a in i.actions],
            "corrections": [{**f, "at": _utc(f["at"])} for f in i.feedback],
            "under_evidence_hold": i.held_by_incident is not None,
        } for i in holdings.items],
        "mentions_by_others": [{"id": m.id, "platform": m.platform,
                                "when": _when(m.created_at, tz(m.school_id)), "text": m.text}
                               for m in holdings.mentions],
        "incidents": [{"id": i.id, "harm": i.harm, "severity": i.severity, "status": i.status,
                       "opened": _when(i.opened_at, tz(i.school_id)),
                       "resolved": _when(i.resolved_at, tz(i.school_id)), "outcome": i.outcome,
                       "evidence_hold": ({"since_utc": _utc(i.held_at), "reason": i.hold_reason}
                                         if i.held else None)}
                      for i in holdings.incidents],
        "alerts": [{"id": a.id, "kind": a.kind, "severity": a.severity, "title": a.title,
                    "when": _when(a.created_at, tz(a.school_id)), "why": a.why,
                    "told": [{"roles": d["roles"], "status": d["status"],
                              "sent_utc": _utc(d["sent_at"])} for d in a.told]}
                   for a in holdings.alerts],
        "evidence": [{"school": e.school_id, "entry": e.seq, "kind": e.kind,
                      "recorded_utc": _utc(e.recorded_at), "item": e.item_id,
                      "incident": e.incident_id, "content_removed": e.removed,
                      "under_evidence_hold": e.held_by_incident is not None}
                     for e in holdings.evidence],
        "followers": [{"platform": f.platform, "account_id": f.account_id, "handle": f.handle,
                       "name": f.name, "bio": f.bio, "follows": f.school_account,
                       "first_seen_utc": _utc(f.first_seen_at),
                       "followed_utc": _utc(f.followed_at),
                       "unfollowed_utc": _utc(f.unfollowed_at), "screening": f.screening,
                       "events": [{"kind": e["kind"], "at_utc": _utc(e["at"]),
                                   "detail": e["detail"]} for e in f.events]}
                      for f in holdings.followers],
        "watchlist": [{"id": w.id, "platform": w.platform, "account_id": w.account_id,
                       "handle": w.handle, "reason": w.reason, "added_utc": _utc(w.added_at),
                       "expires_utc": _utc(w.expires_at), "removed_utc": _utc(w.removed_at),
                       "active": w.active} for w in holdings.watchlist],
    }


def _why(verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {"categories": verdict["categories"], "severity": verdict["severity"],
            "reasons": verdict["reasons"], "model_version": verdict["model_version"],
            "classified_utc": _utc(verdict["classified_at"])}
