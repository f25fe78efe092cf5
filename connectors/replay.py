"""Replays recorded API responses from a folder, for the demo and the tests.

A replay folder holds one JSON file per API page, named so that they sort in the order they were
fetched (`001.json`, `002.json`, ...), each exactly as the platform returns it:

- `as_platform = "facebook"`: a Graph API page (`data` + `paging`) of Page posts with their
  `comments` edge nested (replies nested again under each comment's `comments`), as
  `GET /{page-id}/feed?fields=id,message,created_time,permalink_url,comments{...}` returns; a page
  of bare comments (`GET /{post-id}/comments`) works too.
- `as_platform = "instagram"`: a Graph API page of media with `comments` nested (replies under
  each comment's `replies`), as `GET /{ig-user-id}/media?fields=id,caption,permalink,comments{...}`
  returns; a page of bare comments works too.
- `as_platform = "x"`: an X API v2 page (`data`, `includes.users`, `meta`), as
  `GET /2/users/:id/mentions` returns with `expansions=author_id`.

With `release_interval` (seconds) the files are released one by one, file n becoming visible n
intervals after the first poll, so the demo looks like a live feed. The first poll's time is kept
in the cursor, so a restarted daemon carries on where it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from connectors import formats
from connectors.base import (
    ACTIONS,
    ActionResult,
    CheckResult,
    ConfigError,
    Connector,
    Item,
    Page,
    PayloadError,
    SourceSpec,
)

PLATFORMS = ("facebook", "instagram", "x")
# The demo must not pretend: a replayed comment exists only in a file, so no action is offered
# and none ever reports success.
NOTHING_TO_ACT_ON = ("the demo replays recorded comments: there is nothing on a platform to act "
                     "on")


class ReplayConnector(Connector):
    platform: ClassVar[str] = "replay"
    title: ClassVar[str] = "the demo"
    kinds: ClassVar[tuple[str, ...]] = ("comments", "mentions", "replies", "search")
    supports: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    refusals: ClassVar[Mapping[str | tuple[str, str], str]] = {
        action: NOTHING_TO_ACT_ON for action in ACTIONS}

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        super().__init__(settings, secrets)
        if "path" not in self.settings:
            raise ConfigError("replay source needs a 'path' setting (a folder of recorded pages)")
        self.folder = Path(self.settings["path"]).expanduser()
        self.as_platform = str(self.settings.get("as_platform", "facebook"))
        if self.as_platform not in PLATFORMS:
            raise ConfigError(f"as_platform must be one of {', '.join(PLATFORMS)}")
        self.release_interval = float(self.settings.get("release_interval", 0))
        self.now = datetime.now  # replaced in tests to move time forward

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            raise ConfigError(f"replay folder not found: {self.folder}")
        return sorted(self.folder.glob("*.json"))

    def fetch(self, source: SourceSpec, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        cursor = dict(cursor or {})
        now = self.now(UTC)
        started = cursor.get("started_at") or now.isoformat()
        start = datetime.fromisoformat(started)
        position = int(cursor.get("next", 0))
        files = self._files()
        if self.release_interval > 0:
            released = int((now - start) / timedelta(seconds=self.release_interval)) + 1
            files = files[:released]
        pending = files[position:]
        if not pending:
            yield Page(items=[], progress={"next": position, "started_at": started}, last=True)
            return
        for offset, path in enumerate(pending, start=1):
            position += 1
            yield Page(
                items=self._read(path, source.kind),
                progress={"next": position, "started_at": started},
                last=offset == len(pending),
            )

    def _read(self, path: Path, kind: str) -> list[Item]:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"{path.name}: not readable JSON ({exc})") from None
        if self.as_platform == "x":
            item_kind = {"replies": "reply", "search": "mention"}.get(kind, "mention")
            return formats.x_page(body, kind=item_kind)[0]
        objects, _after = formats.graph_page(body)
        if self.as_platform == "instagram":
            return list(_instagram_items(objects))
        return list(_facebook_items(objects))

    def check(self) -> CheckResult:
        try:
            count = len(self._files())
        except ConfigError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{count} recorded pages in {self.folder}")

    def act(self, action: str, item: Item) -> ActionResult:
        return ActionResult(False, self.refusal(action, item) or NOTHING_TO_ACT_ON)


def _facebook_items(objects: list[Any]) -> Iterator[Item]:
    for obj in objects:
        if isinstance(obj, Mapping) and isinstance(obj.get("comments"), Mapping) or (
            isinstance(obj, Mapping) and "message" in obj and "from" not in obj
        ):
            # A Page post with its comments nested: the post is the school's own, not an item.
            post_id = str(obj.get("id", ""))
            for comment in (obj.get("comments") or {}).get("data", []):
                yield from _facebook_thread(comment, post_id)
        else:
            yield from _facebook_thread(obj, "")


def _facebook_thread(comment: Any, post_id: str) -> Iterator[Item]:
    item = formats.graph_comment(comment, post_id=post_id)
    yield item
    replies = comment.get("comments") if isinstance(comment, Mapping) else None
    for reply in (replies or {}).get("data", []) if isinstance(replies, Mapping) else []:
        if isinstance(reply, Mapping) and "parent" not in reply:
            reply = {**reply, "parent": {"id": item.external_id}}
        yield formats.graph_comment(reply, post_id=item.conversation_id)


def _instagram_items(objects: list[Any]) -> Iterator[Item]:
    for obj in objects:
        if isinstance(obj, Mapping) and isinstance(obj.get("comments"), Mapping):
            media_id = str(obj.get("id", ""))
            permalink = str(obj.get("permalink", "") or "")
            for comment in obj["comments"].get("data", []):
                yield from _instagram_thread(comment, media_id, permalink)
        else:
            yield from _instagram_thread(obj, "", "")


def _instagram_thread(comment: Any, media_id: str, permalink: str) -> Iterator[Item]:
    item = formats.instagram_comment(comment, media_id=media_id, permalink=permalink)
    yield item
    replies = comment.get("replies") if isinstance(comment, Mapping) else None
    for reply in (replies or {}).get("data", []) if isinstance(replies, Mapping) else []:
        if isinstance(reply, Mapping) and "parent_id" not in reply:
            reply = {**reply, "parent_id": item.external_id}
        yield formats.instagram_comment(reply, media_id=item.conversation_id, permalink=permalink)
