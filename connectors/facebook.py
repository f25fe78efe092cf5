"""Facebook Pages through facebook-sdk's GraphAPI (see connectors/graph.py for the plumbing).

Source kinds, all polled with a Page access token:

- `comments`: comments and replies on the Page's feed (its own posts and visitors' posts).
  GET /{page}/feed lists the posts of the last `lookback_days` with their `updated_time` (Graph
  moves it when someone comments). The comments of a post are read only when its updated_time
  differs from the one remembered in the cursor when they were last read, or when Graph gave
  none: GET /{post}/comments?filter=stream&order=chronological&since=... reads comments and
  replies as one oldest-first stream. A quiet poll is therefore one request (the feed), and a
  busy one about one more per post with new comments. The Page's own comments and replies are
  not items.
- `visitor_posts`: GET /{page}/visitor_posts, posts people leave on the Page.
- `tags`: GET /{page}/tagged, posts elsewhere that tag the Page.
- `ratings`: GET /{page}/ratings, recommendations and reviews.

The cursor (graph.Watermark) is a `since` watermark with the ids read near it, each post's
updated_time as last read, and the streams that `max_pages` cut off part-way with the paging query
to read on from: a burst of comments on one post, or of visitor posts, is read a part each poll,
each item once, and nothing is skipped whatever the watermark has moved to meanwhile. After a
thread that took more than a page, the post's next read starts at its newest comment read
(`long`), not at the watermark's floor, so the burst is not read through again. The newest-first
listings (visitor posts, tags, ratings) read what is new at the top first, down to the first page
of items all read before, then carry on with any older part left unread.

Edits do not change a comment's id or created time, so an edited comment is not read again; a
deleted one simply is not there. Graph leaves out `from` for people its privacy rules hide from
the app; such items carry no author and cannot be blocked from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
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
    OVERLAP_SECONDS,
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
    settled,
    unix,
    unreachable_or_refused,
)

POST_FIELDS = "id,created_time,updated_time,permalink_url"
COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,is_hidden"
VISITOR_POST_FIELDS = "id,message,story,created_time,from{id,name},permalink_url"
RATING_FIELDS = ("created_time,recommendation_type,review_text,rating,has_review,"
                 "reviewer{id,name},open_graph_story{id}")

# Newest-first listings: kind -> (edge, fields, parser).
LISTINGS: dict[str, tuple[str, str, Callable[[Any], Item]]] = {
    "visitor_posts": ("visitor_posts", VISITOR_POST_FIELDS, formats.graph_post),
    "tags": ("tagged", VISITOR_POST_FIELDS, partial(formats.graph_post, kind="tag")),
    "ratings": ("ratings", RATING_FIELDS, formats.graph_rating),
}

# Without these the Page cannot be read; without the others it cannot be moderated.
READ_PERMISSIONS = ("pages_read_engagement", "pages_read_user_content")
MODERATION_PERMISSIONS = ("pages_manage_engagement", "pages_manage_posts")

# What each kind of item allows. The Page moderates what is on it: comments and replies on its
# posts and posts visitors leave on it can be hidden (is_hidden) and deleted; anyone who wrote
# there can be blocked from the Page (POST /{page}/blocked). A post that tags the Page lives on
# someone else's page or profile, and Graph offers no way to touch a recommendation: for those
# only their authors can be blocked.
ON_THE_PAGE = ("hide", "unhide", "delete", "block")
SUPPORTS = {"comment": ON_THE_PAGE, "reply": ON_THE_PAGE, "post": ON_THE_PAGE,
            "tag": ("block",), "review": ("block",)}
REFUSALS = {
    "tag": "a post that tags the school lives on someone else's page or profile, and only its "
           "owner can hide or delete it: report it to Facebook, or block its author",
    "review": "Facebook does not let a Page hide or delete a recommendation: report it to "
              "Facebook from the Page's Reviews tab, or block its author",
    "mute": "Facebook Pages cannot mute people through the Graph API: hide the comment, or "
            "block its author from the Page",
}
NO_AUTHOR = ("Facebook did not say who wrote this (it hides the authors of some comments from "
             "apps), so they cannot be blocked from here: block them from the Page, in the "
             "comment's menu on Facebook")


class FacebookConnector(Connector):
    platform: ClassVar[str] = "facebook"
    title: ClassVar[str] = "Facebook"
    kinds: ClassVar[tuple[str, ...]] = ("comments", "visitor_posts", "tags", "ratings")
    supports: ClassVar[Mapping[str, tuple[str, ...]]] = SUPPORTS
    refusals: ClassVar[Mapping[str | tuple[str, str], str]] = REFUSALS
    credentials: ClassVar[tuple[str, ...]] = ("page_access_token", "app_secret", "app_id")
    required_credentials: ClassVar[tuple[str, ...]] = ("page_access_token",)

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        super().__init__(settings, secrets)
        self.client = GraphClient(self.settings, self.secrets, label="Facebook")
        poll_limits(self.settings)  # a bad value is a config error now, not at the first poll
        self.now = lambda: datetime.now(UTC)  # replaced in tests to fix the clock
        self._page_id = ""

    # --- polling -----------------------------------------------------------------------------

    def fetch(self, source: SourceSpec, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        settings = {**self.settings, **source.settings}
        if source.kind not in self.kinds:
            raise ConfigError(f"Facebook cannot poll '{source.kind}' "
                              f"(it can poll {', '.join(self.kinds)})")
        if not str(source.account).strip():
            raise ConfigError("a Facebook source needs the Page id as its account")
        lookback, max_pages = poll_limits(settings)
        self.client.use_limits(settings)
        mark = Watermark.from_cursor(cursor, first_since=first_since(self.now(), lookback))
        poll = _Poll(self.client, str(source.account).strip(), mark, max_pages, lookback,
                     started=unix(self.now()))
        batches = poll.comments() if source.kind == "comments" else poll.listing(
            *LISTINGS[source.kind])
        yield from marked_pages(batches, mark)

    # --- moderation (`act` has refused what `supports` and `refusal` rule out) -------------

    @classmethod
    def refusal(cls, action: str, item: Item) -> str | None:
        if action == "block" and not item.author.id and cls.unsupported_reason(
                action, item.kind) is None:
            return NO_AUTHOR
        return super().refusal(action, item)

    def do_hide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, True)

    def do_unhide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, False)

    def _set_hidden(self, item: Item, hidden: bool) -> ActionResult:
        verb = "hidden" if hidden else "unhidden"
        return confirmed(
            lambda: self.client.post(item.external_id, is_hidden="true" if hidden else "false"),
            f"{item.kind} {item.external_id} {verb} on Facebook", "Facebook")

    def do_delete(self, item: Item) -> ActionResult:
        return confirmed(lambda: self.client.delete(item.external_id),
                         f"{item.kind} {item.external_id} deleted from Facebook", "Facebook")

    def do_block(self, item: Item) -> ActionResult:
        try:
            page_id = self._own_page_id()
            answer = self.client.post_edge(page_id, "blocked", user=item.author.id)
        except ConnectorError as exc:
            return ActionResult(False, f"could not block {item.author.name or item.author.id}: "
                                       f"{exc}")
        # Graph answers {"<user id>": true} for each person it blocked.
        if isinstance(answer, Mapping) and answer.get(item.author.id) is True:
            who = item.author.name or item.author.id
            return ActionResult(True, f"{who} blocked from the Facebook Page")
        return ActionResult(False, f"Facebook did not confirm the block: {answer!r}")

    def _own_page_id(self) -> str:
        # A Page token is the Page: /me is the Page the block applies to.
        if not self._page_id:
            me = self.client.get("me", fields="id")
            if not me.get("id"):
                raise PayloadError("Facebook did not say which Page the token belongs to")
            self._page_id = str(me["id"])
        return self._page_id

    # --- health ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            me = self.client.get("me", fields="id,name")
            who = f"Page '{me.get('name', '?')}' ({me.get('id', '?')})"
            expected = str(self.settings.get("account", "")).strip()
            if expected and str(me.get("id")) != expected:
                return CheckResult(False, f"Facebook: the token belongs to the {who}, not to "
                                          f"the configured Page {expected}: make the token for "
                                          "that Page")
            return permission_report("Facebook", who, self.client, self.now(),
                                     READ_PERMISSIONS, MODERATION_PERMISSIONS)
        except ConnectorError as exc:
            return unreachable_or_refused("Facebook", exc)


class _Poll:
    """One poll of one source: yields batches of new items and keeps the cursor up to date."""

    def __init__(self, client: GraphClient, page_id: str, mark: Watermark, max_pages: int,
                 lookback_days: float, *, started: int) -> None:
        self.client = client
        self.page_id = page_id
        self.mark = mark
        self.max_pages = max_pages
        self.lookback_days = lookback_days
        # When this poll's reads began, at the latest: a post's comments read now show
        # everything Graph had stamped before then.
        self.started = started

    def comments(self) -> Iterator[list[Item]]:
        mark = self.mark
        floor = mark.floor
        feed = self.client.walk(self.page_id, "feed", {
            "fields": POST_FIELDS, "since": mark.since - int(self.lookback_days * 86400),
            "limit": PAGE_SIZE,
        }, max_pages=self.max_pages)
        listed: set[str] = set()
        for number, feed_page in enumerate(feed):
            if number == 0:
                self.use_graph_clock()
            for post in feed_page.objects:
                post_id, updated = _object_id(post, "post"), _updated_time(post)
                listed.add(post_id)
                stream = mark.open.get(post_id)
                if stream is None and (updated is None or (
                        updated >= floor and mark.posts.get(post_id) != updated)):
                    # After a burst, from the newest comment read rather than from the floor.
                    stream = Stream(post_id, max(mark.since,
                                                 mark.long.get(post_id, 0) + OVERLAP_SECONDS))
                if stream is not None:
                    yield from self.post_comments(stream, updated)
        # Streams cut off on posts the feed did not list this time (past max_pages, or gone).
        for post_id, stream in list(mark.open.items()):
            if post_id not in listed:
                yield from self.post_comments(stream, None, gone_ok=True)
        # A post last updated before the new floor is read again only if it changes, with or
        # without its entry: forget it.
        newest_floor = mark.newest() - OVERLAP_SECONDS
        mark.posts = {post_id: updated for post_id, updated in mark.posts.items()
                      if _finite_int(updated) and updated >= newest_floor}
        mark.long = {post_id: when for post_id, when in mark.long.items()
                     if when >= newest_floor}

    def post_comments(self, stream: Stream, updated: int | None, *,
                      gone_ok: bool = False) -> Iterator[list[Item]]:
        pages = read_stream(self.client, stream, "comments", {
            "fields": COMMENT_FIELDS, "filter": "stream", "order": "chronological",
            "since": stream.floor, "limit": PAGE_SIZE,
        }, max_pages=self.max_pages, gone_ok=gone_ok)
        self.mark.close(stream.node)
        # A stream read on from an earlier poll is a long thread; `mark` is then the created
        # time of the newest comment read on it so far.
        long, newest = bool(stream.page), stream.mark if _finite_int(stream.mark) else None
        for number, page in enumerate(pages):
            items = [formats.graph_comment(obj, post_id=stream.node) for obj in page.objects]
            newest = max([unix(item.created_at) for item in items]
                         + ([newest] if newest is not None else []), default=None)
            if page.resume is not None:
                # Cut off part-way: the rest is read from here next time, before anything else.
                self.mark.cut(Stream(stream.node, stream.since, page.resume, newest))
            else:
                self.mark.close(stream.node)
                if updated is not None:
                    self.settle(stream.node, updated)
                if (long or number > 0) and newest is not None:
                    self.mark.long[stream.node] = newest
            yield self.mark.fresh((item for item in items if item.author.id != self.page_id),
                                  stream.floor)

    def use_graph_clock(self) -> None:
        """Take Graph's own clock (the feed answer's Date) when it is behind ours: updated_time
        is Graph's time, and a server clock running ahead must not make a read look later
        than it was."""
        answered = self.client.answered_at()
        if answered is not None:
            self.started = min(self.started, answered)

    def settle(self, post_id: str, updated: int) -> None:
        """Remember the post's updated_time, so that it is not read again until it moves, only
        if this read began safely after it. Otherwise a comment stamped in the same second (or
        shown a moment late) would leave updated_time as it is and never be read: the post is
        then read once more on the next poll."""
        if settled(updated, self.started):
            self.mark.posts[post_id] = updated
        else:
            self.mark.posts.pop(post_id, None)

    def listing(self, edge: str, fields: str,
                parse: Callable[[Any], Item]) -> Iterator[list[Item]]:
        """Visitor posts, tags or ratings, newest first (see graph.newest_first)."""
        return newest_first(self.client, self.mark, self.page_id, edge,
                            {"fields": fields, "limit": PAGE_SIZE}, parse,
                            max_pages=self.max_pages)


def _object_id(obj: Any, what: str) -> str:
    if not isinstance(obj, Mapping) or not obj.get("id"):
        raise PayloadError(f"Facebook {what} has no id")
    return str(obj["id"])


def _updated_time(post: Any) -> int | None:
    """When someone last commented on a post (Graph moves `updated_time` then), or None when
    Graph did not say: such a post's comments are read on every poll."""
    if not isinstance(post, Mapping):
        raise PayloadError("Facebook post is not a JSON object")
    stamp = post.get("updated_time")
    return None if stamp in (None, "") else unix(formats.parse_time(stamp))


def _finite_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
