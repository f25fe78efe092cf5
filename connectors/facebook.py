"""Facebook Pages through facebook-sdk's GraphAPI (see connectors/graph.py for the plumbing).

Source kinds, all polled with a Page access token:

- `comments`: comments and replies on the Page's feed (its own posts and visitors' posts).
  GET /{page}/feed lists the posts of the last `lookback_days`; a post whose `updated_time` (Graph
  moves it when someone comments) is older than the cursor is skipped; for the rest,
  GET /{post}/comments?filter=stream&order=chronological&since=... reads comments and replies as
  one oldest-first stream. The Page's own comments and replies are not items.
- `visitor_posts`: GET /{page}/visitor_posts, posts people leave on the Page.
- `tags`: GET /{page}/tagged, posts elsewhere that tag the Page.
- `ratings`: GET /{page}/ratings, recommendations and reviews.

The cursor is a `since` watermark with the ids read near it (graph.Watermark). Edits do not
change a comment's id or created time, so an edited comment is not read again; a deleted one
simply is not there. Graph leaves out `from` for people its privacy rules hide from the app;
such items carry no author and cannot be blocked from here.
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
    PAGE_SIZE,
    GraphClient,
    Watermark,
    confirmed,
    first_since,
    marked_pages,
    permission_report,
    poll_limits,
    unix,
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

# What each item kind allows: tags live on someone else's page, reviews cannot be moderated.
HIDEABLE = ("comment", "reply", "post")
WHY_NOT = {
    "tag": "a post that tags the school lives on someone else's page or profile, and only its "
           "owner can hide or delete it: report it to Facebook, or block its author",
    "review": "Facebook does not let a Page hide or delete a recommendation: report it to "
              "Facebook from the Page's Reviews tab",
}


class FacebookConnector(Connector):
    platform: ClassVar[str] = "facebook"
    kinds: ClassVar[tuple[str, ...]] = ("comments", "visitor_posts", "tags", "ratings")
    actions: ClassVar[tuple[str, ...]] = ("hide", "unhide", "delete", "block")
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
        mark = Watermark.from_cursor(cursor, first_since=first_since(self.now(), lookback))
        poll = _Poll(self.client, str(source.account).strip(), mark, max_pages, lookback)
        batches = poll.comments() if source.kind == "comments" else poll.listing(
            *LISTINGS[source.kind])
        yield from marked_pages(batches, mark)

    # --- moderation --------------------------------------------------------------------------

    def do_hide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, True)

    def do_unhide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, False)

    def _set_hidden(self, item: Item, hidden: bool) -> ActionResult:
        verb = "hidden" if hidden else "unhidden"
        if item.kind not in HIDEABLE:
            return ActionResult(False, _refusal(item))
        return confirmed(
            lambda: self.client.post(item.external_id, is_hidden="true" if hidden else "false"),
            f"{item.kind} {item.external_id} {verb} on Facebook", "Facebook")

    def do_delete(self, item: Item) -> ActionResult:
        if item.kind not in HIDEABLE:
            return ActionResult(False, _refusal(item))
        return confirmed(lambda: self.client.delete(item.external_id),
                         f"{item.kind} {item.external_id} deleted from Facebook", "Facebook")

    def do_block(self, item: Item) -> ActionResult:
        if not item.author.id:
            return ActionResult(False, (
                "Facebook did not say who wrote this (it hides the authors of some comments "
                "from apps), so they cannot be blocked from here: block them from the Page, "
                "in the comment's menu on Facebook"))
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
        except ConnectorError as exc:
            return CheckResult(False, f"Facebook token does not work: {exc}")
        who = f"Page '{me.get('name', '?')}' ({me.get('id', '?')})"
        expected = str(self.settings.get("account", "")).strip()
        if expected and str(me.get("id")) != expected:
            return CheckResult(False, f"Facebook: the token belongs to the {who}, not to the "
                                      f"configured Page {expected}: make the token for that Page")
        return permission_report("Facebook", who, self.client, self.now(),
                                 READ_PERMISSIONS, MODERATION_PERMISSIONS)


def _refusal(item: Item) -> str:
    return WHY_NOT.get(item.kind, f"Facebook cannot do that to a {item.kind}")


class _Poll:
    """One poll of one source: yields batches of new items and keeps the watermark up to date."""

    def __init__(self, client: GraphClient, page_id: str, mark: Watermark, max_pages: int,
                 lookback_days: float) -> None:
        self.client = client
        self.page_id = page_id
        self.mark = mark
        self.max_pages = max_pages
        self.lookback_days = lookback_days

    def comments(self) -> Iterator[list[Item]]:
        posts_since = self.mark.since - int(self.lookback_days * 86400)
        feed = self.client.walk(self.page_id, "feed", {
            "fields": POST_FIELDS, "since": posts_since, "limit": PAGE_SIZE,
        }, max_pages=self.max_pages)
        for feed_page in feed:
            for post in feed_page.objects:
                if _active_since(post, self.mark.floor):
                    yield from self.post_comments(_object_id(post, "post"))

    def post_comments(self, post_id: str) -> Iterator[list[Item]]:
        pages = self.client.walk(post_id, "comments", {
            "fields": COMMENT_FIELDS, "filter": "stream", "order": "chronological",
            "since": self.mark.floor, "limit": PAGE_SIZE,
        }, max_pages=self.max_pages)
        newest, more = self.mark.since, False
        for page in pages:
            items = [formats.graph_comment(obj, post_id=post_id) for obj in page.objects]
            newest = max([newest, *(unix(item.created_at) for item in items)])
            more = page.more
            yield self.mark.fresh(item for item in items if item.author.id != self.page_id)
        if more:
            # Cut off part-way through an oldest-first stream: what is newer than the last
            # comment read has not been seen, so the cursor must not pass it.
            self.mark.hold(newest)

    def listing(self, edge: str, fields: str,
                parse: Callable[[Any], Item]) -> Iterator[list[Item]]:
        """A newest-first listing: read until items older than the cursor appear."""
        pages = self.client.walk(self.page_id, edge, {
            "fields": fields, "since": self.mark.floor, "limit": PAGE_SIZE,
        }, max_pages=self.max_pages)
        for page in pages:
            items = [parse(obj) for obj in page.objects]
            yield self.mark.fresh(items)
            if self.mark.older_than_floor(items):
                return


def _object_id(obj: Any, what: str) -> str:
    if not isinstance(obj, Mapping) or not obj.get("id"):
        raise PayloadError(f"Facebook {what} has no id")
    return str(obj["id"])


def _active_since(post: Any, floor: int) -> bool:
    """Whether a post may have comments newer than `floor`: its updated_time moves when
    someone comments. Without one, it may."""
    if not isinstance(post, Mapping):
        raise PayloadError("Facebook post is not a JSON object")
    stamp = post.get("updated_time") or post.get("created_time")
    return stamp is None or unix(formats.parse_time(stamp)) >= floor
