"""Turn the platforms' own JSON into `Item`s.

Shared by the live connectors and the replay connector, so a recorded payload and a live one are
read by exactly the same code. Every parser raises `PayloadError` (never KeyError or TypeError) on
a shape it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import Author, Item, PayloadError


def parse_time(value: Any) -> datetime:
    """Graph API ('2021-01-01T10:00:00+0000'), X ('2021-01-01T10:00:00.000Z') or ISO 8601."""
    if not isinstance(value, str) or not value:
        raise PayloadError(f"missing or non-text timestamp: {value!r}")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"unreadable timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} is not a JSON object")
    return value


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"'{key}' is not a list")
    return value


def _id(obj: Mapping[str, Any], what: str) -> str:
    value = obj.get("id")
    if not isinstance(value, str | int) or value == "":
        raise PayloadError(f"{what} has no id")
    return str(value)


# --- Facebook Graph API -------------------------------------------------------------------------

def graph_comment(obj: Any, *, post_id: str = "") -> Item:
    """A Page comment or reply: {id, message, created_time, from{id,name}, parent{id}, ...}."""
    obj = _object(obj, "comment")
    parent = obj.get("parent") if isinstance(obj.get("parent"), Mapping) else {}
    author = obj.get("from") if isinstance(obj.get("from"), Mapping) else {}
    external_id = _id(obj, "comment")
    post = post_id or external_id.split("_", 1)[0]
    return Item(
        external_id=external_id,
        kind="reply" if parent.get("id") else "comment",
        text=_text(obj.get("message")),
        created_at=parse_time(obj.get("created_time")),
        author=Author(id=str(author.get("id", "")), name=_text(author.get("name"))),
        permalink=_text(obj.get("permalink_url")),
        parent_id=str(parent.get("id", "") or post),
        conversation_id=post,
        raw=obj,
    )


def graph_post(obj: Any, *, kind: str = "post") -> Item:
    """A feed entry, visitor post or tagged post: {id, message, created_time, from, ...}."""
    obj = _object(obj, "post")
    author = obj.get("from") if isinstance(obj.get("from"), Mapping) else {}
    external_id = _id(obj, "post")
    return Item(
        external_id=external_id,
        kind=kind,
        text=_text(obj.get("message")) or _text(obj.get("story")),
        created_at=parse_time(obj.get("created_time") or obj.get("updated_time")),
        author=Author(id=str(author.get("id", "")), name=_text(author.get("name"))),
        permalink=_text(obj.get("permalink_url")),
        conversation_id=external_id,
        raw=obj,
    )


def graph_rating(obj: Any) -> Item:
    """A Page rating / recommendation: {created_time, recommendation_type, review_text, reviewer,
    open_graph_story{id}}. Ratings have no id of their own, the story id stands in."""
    obj = _object(obj, "rating")
    story = obj.get("open_graph_story") if isinstance(obj.get("open_graph_story"), Mapping) else {}
    reviewer = obj.get("reviewer") if isinstance(obj.get("reviewer"), Mapping) else {}
    created = obj.get("created_time")
    external_id = str(story.get("id") or f"rating:{reviewer.get('id', '')}:{created}")
    return Item(
        external_id=external_id,
        kind="review",
        text=_text(obj.get("review_text")),
        created_at=parse_time(created),
        author=Author(id=str(reviewer.get("id", "")), name=_text(reviewer.get("name"))),
        conversation_id=external_id,
        raw=obj,
    )


def instagram_comment(obj: Any, *, media_id: str = "", permalink: str = "") -> Item:
    """An Instagram comment or reply: {id, text, timestamp, username, from{id,username},
    parent_id, media{id}}."""
    obj = _object(obj, "comment")
    author = obj.get("from") if isinstance(obj.get("from"), Mapping) else {}
    media = obj.get("media") if isinstance(obj.get("media"), Mapping) else {}
    media_id = media_id or str(media.get("id", ""))
    parent = str(obj.get("parent_id", "") or "")
    handle = _text(obj.get("username")) or _text(author.get("username"))
    return Item(
        external_id=_id(obj, "comment"),
        kind="reply" if parent else "comment",
        text=_text(obj.get("text")),
        created_at=parse_time(obj.get("timestamp")),
        author=Author(id=str(author.get("id", "")), handle=handle, name=handle),
        permalink=permalink,
        parent_id=parent or media_id,
        conversation_id=media_id,
        raw=obj,
    )


def graph_page(body: Any) -> tuple[list[Any], str | None]:
    """The objects of one Graph API page and the `after` cursor of the next page, if any."""
    body = _object(body, "Graph API response")
    if "error" in body:
        raise PayloadError(f"Graph API error in page: {body['error']!r}")
    paging = body.get("paging") if isinstance(body.get("paging"), Mapping) else {}
    cursors = paging.get("cursors") if isinstance(paging.get("cursors"), Mapping) else {}
    after = cursors.get("after") if paging.get("next") else None
    return _list(body, "data"), after


# --- X API v2 -----------------------------------------------------------------------------------

def x_page(body: Any, *, kind: str = "mention") -> tuple[list[Item], dict[str, Any]]:
    """Posts of one X API v2 page ({data, includes{users}, meta}) and its `meta`."""
    body = _object(body, "X API response")
    meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
    users = {
        str(u.get("id")): u
        for u in _list(body.get("includes") or {}, "users")
        if isinstance(u, Mapping)
    }
    items = []
    for tweet in _list(body, "data"):
        tweet = _object(tweet, "post")
        tweet_id = _id(tweet, "post")
        user = users.get(str(tweet.get("author_id", "")), {})
        handle = _text(user.get("username"))
        replied_to = next(
            (str(ref.get("id")) for ref in tweet.get("referenced_tweets") or []
             if isinstance(ref, Mapping) and ref.get("type") == "replied_to"),
            "",
        )
        items.append(Item(
            external_id=tweet_id,
            kind="reply" if replied_to and kind == "reply" else kind,
            text=_text(tweet.get("text")),
            created_at=parse_time(tweet.get("created_at")),
            author=Author(id=str(tweet.get("author_id", "")), handle=handle,
                          name=_text(user.get("name"))),
            permalink=f"https://x.com/{handle or 'i/web'}/status/{tweet_id}",
            parent_id=replied_to,
            conversation_id=str(tweet.get("conversation_id", "") or tweet_id),
            raw=tweet,
        ))
    return items, dict(meta)
