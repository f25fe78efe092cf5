"""Turn the platforms' own JSON into `Item`s.

Shared by the live connectors and the replay connector, so a recorded payload and a live one are
read by exactly the same code. Every parser raises `PayloadError` (never KeyError or TypeError) on
a shape it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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

def _graph_comment_ids(obj: Mapping[str, Any]) -> tuple[str, str]:
    """The comment's id and its parent comment's id, read from its permalink when Graph left
    out `id` (it does when `fields` omits it): `.../posts/{post}/?comment_id={c}` and, for a
    reply, `&reply_comment_id={r}`. Graph writes a comment id as `{post}_{comment}`."""
    if obj.get("id") not in (None, ""):
        return _id(obj, "comment"), ""
    link = urlsplit(_text(obj.get("permalink_url")))
    query = dict(parse_qsl(link.query))
    parts = [part for part in link.path.split("/") if part]
    post = parts[parts.index("posts") + 1] if "posts" in parts[:-1] else ""
    comment, reply = query.get("comment_id", ""), query.get("reply_comment_id", "")
    if not (post.isdigit() and comment.isdigit() and (reply == "" or reply.isdigit())):
        raise PayloadError("comment has no id")
    if reply:
        return f"{post}_{reply}", f"{post}_{comment}"
    return f"{post}_{comment}", ""


def graph_comment(obj: Any, *, post_id: str = "") -> Item:
    """A Page comment or reply: {id, message, created_time, from{id,name}, parent{id}, ...}."""
    obj = _object(obj, "comment")
    parent = obj.get("parent") if isinstance(obj.get("parent"), Mapping) else {}
    author = obj.get("from") if isinstance(obj.get("from"), Mapping) else {}
    external_id, linked_parent = _graph_comment_ids(obj)
    if linked_parent and not parent.get("id"):
        parent = {"id": linked_parent}
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


def instagram_media(obj: Any, *, kind: str = "tag") -> Item:
    """An Instagram media object, such as a post the account is tagged in:
    {id, caption, timestamp, permalink, username, media_type}."""
    obj = _object(obj, "media")
    external_id = _id(obj, "media")
    owner = obj.get("owner") if isinstance(obj.get("owner"), Mapping) else {}
    handle = _text(obj.get("username"))
    return Item(
        external_id=external_id,
        kind=kind,
        text=_text(obj.get("caption")),
        created_at=parse_time(obj.get("timestamp")),
        author=Author(id=str(owner.get("id", "")), handle=handle, name=handle),
        permalink=_text(obj.get("permalink")),
        conversation_id=external_id,
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

# X ids since November 2010 are "snowflakes": the top bits are milliseconds since this epoch.
_SNOWFLAKE_EPOCH_MS = 1288834974657
# The first snowflake ids; anything smaller is an old sequential id that carries no time.
_FIRST_SNOWFLAKE = 29_700_859_247


def x_id_number(value: Any, what: str = "post id") -> int:
    """An X id as a number, for ordering: ids are decimal strings too long for a JSON float."""
    try:
        return int(str(value))
    except ValueError:
        raise PayloadError(f"{what} is not a number: {value!r}") from None


def x_id_time(value: Any) -> datetime:
    """When an X post was created, read from its snowflake id."""
    number = x_id_number(value)
    if number < _FIRST_SNOWFLAKE:
        raise PayloadError(f"post {value!r} has no created_at and its id carries no time")
    return datetime.fromtimestamp(((number >> 22) + _SNOWFLAKE_EPOCH_MS) / 1000, tz=UTC)


def _x_created_at(tweet: Mapping[str, Any], tweet_id: str) -> datetime:
    # Responses without `tweet.fields=created_at` (or from older recordings) still have the id,
    # and the id holds the creation time to the millisecond. A created_at that is present but
    # unreadable is a real fault and stays one.
    if tweet.get("created_at") is None:
        return x_id_time(tweet_id)
    return parse_time(tweet.get("created_at"))


def x_page(body: Any, *, kind: str = "mention") -> tuple[list[Item], dict[str, Any]]:
    """Posts of one X API v2 page ({data, includes{users}, meta}) and its `meta`."""
    body = _object(body, "X API response")
    meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
    includes = body.get("includes") if isinstance(body.get("includes"), Mapping) else {}
    users = {
        str(u.get("id")): u
        for u in _list(includes, "users")
        if isinstance(u, Mapping)
    }
    items = []
    for tweet in _list(body, "data"):
        tweet = _object(tweet, "post")
        tweet_id = _id(tweet, "post")
        user = users.get(str(tweet.get("author_id", "")), {})
        handle = _text(user.get("username"))
        replied_to = next(
            (str(ref.get("id")) for ref in _list(tweet, "referenced_tweets")
             if isinstance(ref, Mapping) and ref.get("type") == "replied_to"),
            "",
        )
        items.append(Item(
            external_id=tweet_id,
            kind="reply" if replied_to and kind == "reply" else kind,
            text=_text(tweet.get("text")),
            created_at=_x_created_at(tweet, tweet_id),
            author=Author(id=str(tweet.get("author_id", "")), handle=handle,
                          name=_text(user.get("name"))),
            permalink=f"https://x.com/{handle or 'i/web'}/status/{tweet_id}",
            parent_id=replied_to,
            conversation_id=str(tweet.get("conversation_id", "") or tweet_id),
            raw=tweet,
        ))
    return items, dict(meta)
