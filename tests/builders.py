"""Builders for test data in the platforms' own formats, and for config files."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

PAGE_ID = "104857392011"
# Recent, as live comments are: a first poll stays quiet about old normal/low items.
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)

# (text, what it should raise) for a small school week; None = nothing to tell anyone now.
COMMENTS: list[tuple[str, str | None]] = [
    ("Lovely nativity this morning, thank you Miss Patel!", None),
    ("what time is pick up on friday?", "question"),
    ("I'll be waiting at the gates for that teacher, he'd better watch his back", "threat"),
    ("you are all useless c*nts", "abusive"),
    ("my friend says her stepdad hits her and she's scared to go home", "safeguarding"),
    ("Jack won't be in today, he's got a temperature", "absence"),
    ("Our kids were killing it at sports day!", None),
    ("Ring me on 07700 900123 about the lost coat", "personal_data"),
]


def graph_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S+0000")


def graph_comment(comment_id: str, text: str, at: datetime, author: int = 1) -> dict:
    return {
        "id": comment_id,
        "message": text,
        "created_time": graph_time(at),
        "from": {"id": str(9000 + author), "name": f"Parent {author}"},
        "permalink_url": f"https://www.facebook.com/{PAGE_ID}/posts/{comment_id}",
    }


def graph_feed_page(post_number: int, comments: list[dict], *, last: bool = True) -> dict:
    """A `GET /{page-id}/feed?fields=...,comments{...}` page holding one post."""
    post_id = f"{PAGE_ID}_{post_number}"
    page = {
        "data": [{
            "id": post_id,
            "message": f"School news, post {post_number}",
            "created_time": graph_time(START),
            "comments": {"data": comments,
                         "paging": {"cursors": {"before": "QVFIUb4", "after": "QVFIUa9"}}},
        }],
        "paging": {"cursors": {"before": "QVFIUp1", "after": "QVFIUp2"}},
    }
    if not last:
        page["paging"]["next"] = f"https://graph.facebook.com/v21.0/{PAGE_ID}/feed?after=QVFIUp2"
    return page


def write_replay(folder: Path, texts: list[str], *, per_page: int = 3, post: int = 1,
                 first_id: int = 1) -> list[str]:
    """Write comments as numbered Graph feed pages; returns the comment ids in order."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = len(list(folder.glob("*.json")))
    ids, pages = [], []
    for offset, text in enumerate(texts):
        number = first_id + offset
        comment_id = f"{post}_{number}"
        ids.append(comment_id)
        if offset % per_page == 0:
            pages.append([])
        pages[-1].append(graph_comment(comment_id, text, START + timedelta(minutes=number),
                                       author=number % 4))
    for index, comments in enumerate(pages, start=existing + 1):
        page = graph_feed_page(post, comments, last=index == existing + len(pages))
        (folder / f"{index:03d}.json").write_text(json.dumps(page), encoding="utf-8")
    return ids


def write_config(directory: Path, recipients: dict[str, list[str]] | None = None, *,
                 daemon: str = "", extra_school: str = "", replay: str = "fb",
                 poll_interval: str = "1s", batch_interval: str = "2s") -> Path:
    """A config with one school, one replayed Facebook page and the given recipients."""
    recipients = recipients if recipients is not None else {"digital_champion": ["console://"]}
    blocks = "\n".join(
        f'[[schools.recipients]]\nrole = "{role}"\nurls = {json.dumps(urls)}\n'
        for role, urls in recipients.items())
    text = textwrap.dedent(f"""\
        [daemon]
        data_dir = "data"
        delivery_interval = "1s"
        retry_base = "1s"
        batch_interval = "{batch_interval}"
        {daemon}

        [[schools]]
        id = "oakfield"
        name = "Oakfield Primary School"
        {extra_school}

        [[schools.accounts]]
        platform = "replay"
        account = "{PAGE_ID}"
        kinds = ["comments"]
        poll_interval = "{poll_interval}"
        settings = {{ path = "{replay}", as_platform = "facebook" }}

        """) + blocks
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_accounts_config(directory: Path, accounts: str, *,
                          roles: tuple[str, ...] = ("digital_champion",),
                          extra_school: str = "") -> Path:
    """Oakfield with these `[[schools.accounts]]` tables (TOML text), each role told on the
    console."""
    recipients = "".join(f'[[schools.recipients]]\nrole = "{role}"\nurls = ["console://"]\n'
                         for role in roles)
    path = directory / "config.toml"
    path.write_text(f"""
[daemon]
data_dir = "data"
[[schools]]
id = "oakfield"
name = "Oakfield Primary School"
{extra_school}
{accounts}
{recipients}""", encoding="utf-8")
    return path


def write_graph_config(directory: Path, graph_url: str, page_id: str, *,
                       roles: tuple[str, ...] = ("digital_champion",),
                       extra_school: str = "") -> Path:
    """A school whose Facebook Page is read from `graph_url` (a local server standing in for
    the Graph API) with the page token in $FB_TOKEN, each role told on the console."""
    return write_accounts_config(directory, f"""
[[schools.accounts]]
platform = "facebook"
account = "{page_id}"
kinds = ["comments"]
settings = {{ base_url = "{graph_url}" }}
credentials = {{ page_access_token = "env:FB_TOKEN" }}
""", roles=roles, extra_school=extra_school)
