"""Instagram professional accounts through the Graph API (Instagram API with Facebook Login),
with facebook-sdk's GraphAPI; the plumbing is shared with Facebook in connectors/graph.py.

The account is the Instagram business or creator account id (not the @handle), linked to the
school's Facebook Page; the token is that Page's access token.

Source kinds:

- `comments`: GET /{ig-user}/media lists the account's posts, newest first, back to
  `lookback_days`, each with its `comments_count` (which counts replies too). The comments of a
  post are read only when its comments_count differs from the one remembered in the cursor when
  they were last read: GET /{media}/comments reads the comments, newest first, with their replies
  nested (and GET /{comment}/replies when there are more replies than fit). Instagram offers no
  `since` and no way to ask which comment has a new reply, so a changed post is read through to
  its last page; the comment `timestamp` and the ids read near the cursor decide what is new. A
  new comment moves the count whatever second it lands in, so there is no same-second gap as with
  Facebook's updated_time; but the count can rise before the comment shows, so a post whose count
  rose while its read found nothing new is read once more on the next poll. A quiet poll is one
  request (the media list, while the account has posted fewer than 50 times in
  `lookback_days`). The account's own comments and replies are not items.
- `tags`: GET /{ig-user}/tags, posts by others that tag the account, newest first.

The cursor is graph.Watermark: the `since` watermark with the ids read near it, each post's
comments_count as last read, and the reads that `max_pages` cut off part-way with the paging
query to read on from, so a burst of any size is read a part each poll, each comment once.

Mentions of the account in other people's captions and comments are not listed by any endpoint:
Instagram delivers them only by webhook, which Hall Monitor does not receive yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors import formats
from connectors.base import (
    ActionResult,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorError,
    Item,
    Page,
    PayloadError,
    SourceSpec,
)
from connectors.graph import (
    PAGE_SIZE,
    GraphClient,
    Stream,
    Watermark,
    confirmed,
    first_since,
    marked_pages,
    newest_first,
    permission_report,
    poll_limits,
    read_stream,
    unix,
    unreachable_or_refused,
)

MEDIA_FIELDS = "id,caption,permalink,timestamp,comments_count"
_COMMENT = "id,text,timestamp,username,from{id,username},parent_id,hidden"
COMMENT_FIELDS = f"{_COMMENT},replies{{{_COMMENT}}}"
TAG_FIELDS = "id,caption,permalink,timestamp,username,media_type"

# Reading needs all three (Instagram is reached through the linked Page); moderating needs
# instagram_manage_comments, already among them.
READ_PERMISSIONS = ("instagram_basic", "instagram_manage_comments", "pages_read_engagement")
MODERATION_PERMISSIONS = ("instagram_manage_comments",)

# What each kind of item allows: the account can hide, unhide and delete comments and replies on
# its own posts (POST /{comment}?hide=, DELETE /{comment}); the API offers nothing on posts by
# others that tag it, and no way to block, restrict or mute anyone.
ON_OWN_POSTS = ("hide", "unhide", "delete")
SUPPORTS = {"comment": ON_OWN_POSTS, "reply": ON_OWN_POSTS}
REFUSALS = {
    "tag": "a post that tags the school belongs to someone else, and only its owner can hide "
           "or delete it: report it to Instagram",
    "block": "Instagram's API does not let an account block anyone: block them in the "
             "Instagram app (their profile, the ... menu, Block), or hide their comment",
    "mute": "Instagram's API does not let an account mute or restrict anyone: restrict them in "
            "the Instagram app (their profile, the ... menu, Restrict), or hide their comment",
}


class InstagramConnector(Connector):
    platform: ClassVar[str] = "instagram"
    title: ClassVar[str] = "Instagram"
    kinds: ClassVar[tuple[str, ...]] = ("comments", "tags")
    supports: ClassVar[Mapping[str, tuple[str, ...]]] = SUPPORTS
    refusals: ClassVar[Mapping[str | tuple[str, str], str]] = REFUSALS
    credentials: ClassVar[tuple[str, ...]] = ("page_access_token", "app_secret", "app_id")
    required_credentials: ClassVar[tuple[str, ...]] = ("page_access_token",)

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        super().__init__(settings, secrets)
        self.client = GraphClient(self.settings, self.secrets, label="Instagram")
        poll_limits(self.settings)  # a bad value is a config error now, not at the first poll
        self.now = lambda: datetime.now(UTC)  # replaced in tests to fix the clock

    # --- polling -----------------------------------------------------------------------------

    def fetch(self, source: SourceSpec, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        settings = {**self.settings, **source.settings}
        if source.kind not in self.kinds:
            raise ConfigError(f"Instagram cannot poll '{source.kind}' (it can poll "
                              f"{', '.join(self.kinds)}; mentions arrive only by webhook)")
        account = str(source.account).strip()
        if not account.isdigit():
            raise ConfigError(f"an Instagram source needs the account's numeric id, not "
                              f"{source.account!r} (see docs/platforms/instagram.md)")
        lookback, max_pages = poll_limits(settings)
        self.client.use_limits(settings)
        mark = Watermark.from_cursor(cursor, first_since=first_since(self.now(), lookback))
        poll = _Poll(self.client, account, mark, max_pages, lookback)
        yield from marked_pages(poll.comments() if source.kind == "comments" else poll.tags(),
                                mark)

    # --- moderation (`act` has already refused what `supports` rules out) --------------------

    def do_hide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, True)

    def do_unhide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, False)

    def _set_hidden(self, item: Item, hidden: bool) -> ActionResult:
        verb = "hidden" if hidden else "unhidden"
        return confirmed(
            lambda: self.client.post(item.external_id, hide="true" if hidden else "false"),
            f"Instagram {item.kind} {item.external_id} {verb}", "Instagram")

    def do_delete(self, item: Item) -> ActionResult:
        return confirmed(lambda: self.client.delete(item.external_id),
                         f"Instagram {item.kind} {item.external_id} deleted", "Instagram")

    # --- health ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            return self._check()
        except ConnectorError as exc:
            return unreachable_or_refused("Instagram", exc)

    def _check(self) -> CheckResult:
        me = self._me()
        linked = me.get("instagram_business_account")
        who = f"'{me.get('name', '?')}' ({me.get('id', '?')})"
        expected = str(self.settings.get("account", "")).strip()
        if isinstance(linked, Mapping) and linked.get("id"):
            who += f", linked to Instagram @{linked.get('username', '?')} ({linked['id']})"
            if expected and str(linked["id"]) != expected:
                return CheckResult(False, f"Instagram: the token's Page is {who}, not the "
                                          f"configured account {expected}: check `account`")
        elif "instagram_business_account" not in me:
            # Graph leaves the field out when the Page has no Instagram account linked.
            return CheckResult(False, f"Instagram: the token belongs to the Page {who}, which "
                                      "has no Instagram professional account linked: link one "
                                      "in the Page's settings (see docs/platforms/instagram.md)")
        return permission_report("Instagram", who, self.client, self.now(),
                                 READ_PERMISSIONS, MODERATION_PERMISSIONS)

    def _me(self) -> Mapping[str, Any]:
        try:
            return self.client.get("me", fields="id,name,instagram_business_account{id,username}")
        except ConfigError:
            # A user token's /me is a person, without that field: say who it is all the same
            # (None: not known, rather than known to be missing).
            return {**self.client.get("me", fields="id,name"), "instagram_business_account": None}


class _Poll:
    """One poll of one source: yields batches of new items and keeps the watermark up to date."""

    def __init__(self, client: GraphClient, account: str, mark: Watermark, max_pages: int,
                 lookback_days: float) -> None:
        self.client = client
        self.account = account
        self.mark = mark
        self.max_pages = max_pages
        self.oldest_media = mark.since - int(lookback_days * 86400)

    def comments(self) -> Iterator[list[Item]]:
        mark = self.mark
        media_pages = self.client.walk(self.account, "media", {
            "fields": MEDIA_FIELDS, "limit": PAGE_SIZE,
        }, max_pages=self.max_pages)
        listed: set[str] = set()
        whole = False  # whether the media list was read back to the lookback window's start
        for media_page in media_pages:
            for media in media_page.objects:
                media = _media(media)
                # Newest first: once past the lookback window, the rest is older still.
                if unix(formats.parse_time(media.get("timestamp"))) < self.oldest_media:
                    whole = True
                    break
                media_id, count = str(media["id"]), media.get("comments_count")
                listed.add(media_id)
                stream = self.stream_for(media_id, count)
                if stream is not None:
                    yield from self.media_comments(stream, str(media.get("permalink") or ""))
            else:
                whole = whole or not media_page.more
                continue
            break
        # Reads cut off on posts not listed this time (past max_pages, or deleted).
        for media_id, stream in list(mark.open.items()):
            if media_id not in listed:
                yield from self.media_comments(stream, "", gone_ok=True)
        if whole:
            mark.posts = {media_id: count for media_id, count in mark.posts.items()
                          if media_id in listed}

    def stream_for(self, media_id: str, count: Any) -> Stream | None:
        """The read a post needs this poll, if any."""
        mark = self.mark
        stream = mark.open.get(media_id)
        if stream is not None and stream.mark == count:
            return stream  # read on where the last poll stopped
        if stream is not None:
            # New comments came while it was part-read, at the top (newest first): read it
            # again from the top, from the older watermark, so the unread part is covered.
            return Stream(media_id, stream.since, mark=count)
        entry = mark.posts.get(media_id, 0)
        if count is None or count != entry:  # an entry to read once more is never equal
            return Stream(media_id, mark.since, mark=count)
        return None

    def media_comments(self, stream: Stream, permalink: str, *,
                       gone_ok: bool = False) -> Iterator[list[Item]]:
        pages = read_stream(self.client, stream, "comments", {
            "fields": COMMENT_FIELDS, "limit": PAGE_SIZE,
        }, max_pages=self.max_pages, gone_ok=gone_ok)
        before = self.mark.posts.get(stream.node)
        found = False  # whether this read found any comment not read before
        self.mark.close(stream.node)
        # Every page is read: a new reply can sit under an old comment, and Instagram has no
        # `since` to ask for only what changed.
        for page in pages:
            items = []
            for comment in page.objects:
                item = formats.instagram_comment(comment, media_id=stream.node,
                                                 permalink=permalink)
                items.append(item)
                items += self.replies(comment, item, permalink)
            found = found or any(not self.mark.known(item)
                                 and unix(item.created_at) >= stream.floor for item in items)
            if page.resume is not None:
                self.mark.cut(Stream(stream.node, stream.since, page.resume, stream.mark))
            else:
                self.mark.close(stream.node)
                if stream.mark is not None:
                    self.settle(stream.node, stream.mark, before, found)
            yield self.mark.fresh((item for item in items if item.author.id != self.account),
                                  stream.floor)

    def settle(self, media_id: str, count: Any, before: Any, found: bool) -> None:
        """Remember the count the post was read at, so that it is not read again until the count
        moves. A count can rise before its comment shows in the comments edge: when it rose and
        the read found nothing new, the post is read once more on the next poll (an entry that
        equals no count), and is settled after that read whatever it finds."""
        again = isinstance(before, Mapping)
        previous = before.get("count") if again else before
        rose = _is_count(previous) and _is_count(count) and count > previous
        if rose and not found:
            self.mark.posts[media_id] = {"count": count, "read_again": True}
        else:
            self.mark.posts[media_id] = count

    def replies(self, comment: Mapping[str, Any], parent: Item, permalink: str) -> list[Item]:
        nested = comment.get("replies") if isinstance(comment.get("replies"), Mapping) else {}
        paging = nested.get("paging") if isinstance(nested.get("paging"), Mapping) else {}
        if paging.get("next"):
            # More replies than fit in the nested edge: read them all from their own edge.
            objects = [obj for page in self.client.walk(parent.external_id, "replies", {
                "fields": _COMMENT, "limit": PAGE_SIZE,
            }, max_pages=self.max_pages) for obj in page.objects]
        else:
            objects, _after = formats.graph_page(nested or {"data": []})
        return [
            formats.instagram_comment(
                {**obj, "parent_id": obj.get("parent_id") or parent.external_id}
                if isinstance(obj, Mapping) else obj,
                media_id=parent.conversation_id, permalink=permalink)
            for obj in objects
        ]

    def tags(self) -> Iterator[list[Item]]:
        """Newest first, and no `since`: read down to the cursor (see graph.newest_first)."""
        return newest_first(self.client, self.mark, self.account, "tags",
                            {"fields": TAG_FIELDS, "limit": PAGE_SIZE},
                            lambda obj: formats.instagram_media(obj, kind="tag"),
                            max_pages=self.max_pages, asks_since=False)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _media(obj: Any) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping) or not obj.get("id"):
        raise PayloadError("Instagram media has no id")
    return obj
