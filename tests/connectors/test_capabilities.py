"""Which moderation actions each platform really allows, per kind of item, and why not the rest:
what the console and the alerts offer, and what `hallmonitor action` refuses before sending."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors import connector_class
from connectors.base import ACTIONS, ITEM_KINDS, Author, Connector, Item

ON_THE_PAGE = ("hide", "unhide", "delete", "block")
ON_OWN_POSTS = ("hide", "unhide", "delete")
X_MODERATION = ("hide", "unhide", "mute")

CAPABILITIES = [
    ("facebook", "comment", ON_THE_PAGE),
    ("facebook", "reply", ON_THE_PAGE),
    ("facebook", "post", ON_THE_PAGE),  # a visitor's post on the Page
    ("facebook", "tag", ("block",)),
    ("facebook", "review", ("block",)),
    ("facebook", "mention", ()),
    ("instagram", "comment", ON_OWN_POSTS),
    ("instagram", "reply", ON_OWN_POSTS),
    ("instagram", "tag", ()),
    ("x", "mention", X_MODERATION),
    ("x", "reply", X_MODERATION),
    ("x", "comment", ()),
    *[("replay", kind, ()) for kind in ITEM_KINDS],
]

DEMO = "the demo replays recorded comments: there is nothing on a platform to act on"

REASONS = [
    ("facebook", "mute", "comment", "Facebook Pages cannot mute people"),
    ("facebook", "hide", "tag", "lives on someone else's page"),
    ("facebook", "delete", "review", "does not let a Page hide or delete a recommendation"),
    ("instagram", "block", "comment", "Instagram's API does not let an account block anyone"),
    ("instagram", "mute", "reply", "Restrict"),
    ("instagram", "delete", "tag", "belongs to someone else"),
    ("x", "block", "reply", "X withdrew the endpoint"),
    ("x", "delete", "mention", "delete only its own posts"),
    ("x", "obliterate", "reply", "'obliterate' is not a moderation action"),
    *[("replay", action, "comment", DEMO) for action in ACTIONS],
]


@pytest.mark.parametrize(("platform", "kind", "expected"), CAPABILITIES)
def test_each_platform_declares_what_it_supports_per_item_kind(platform, kind, expected):
    declared = connector_class(platform)
    assert declared.supported_actions(kind) == expected
    for action in expected:
        assert declared.unsupported_reason(action, kind) is None


@pytest.mark.parametrize(("platform", "action", "kind", "words"), REASONS)
def test_an_unsupported_action_has_a_reason_a_person_can_act_on(platform, action, kind, words):
    reason = connector_class(platform).unsupported_reason(action, kind)
    assert reason is not None and words in reason


NOW = datetime(2026, 11, 17, 7, 10, tzinfo=UTC)

OFFERED = [
    ("facebook", Item("1_2", "comment", "x", NOW, Author("555", name="A Parent")), ON_THE_PAGE),
    # Graph hides some authors from apps: nobody to block.
    ("facebook", Item("1_2", "comment", "x", NOW), ("hide", "unhide", "delete")),
    ("facebook", Item("1_9", "tag", "x", NOW, Author("555")), ("block",)),
    ("instagram", Item("178", "comment", "x", NOW, Author("1784", "anon")), ON_OWN_POSTS),
    ("x", Item("21", "reply", "x", NOW, Author("42", "dad"), parent_id="20"), X_MODERATION),
    # A mention that answers nothing is not a reply X lets the school hide.
    ("x", Item("21", "mention", "x", NOW, Author("42", "dad")), ("mute",)),
    ("x", Item("21", "reply", "x", NOW, parent_id="20"), ("hide", "unhide")),
    ("replay", Item("1_2", "comment", "x", NOW, Author("555")), ()),
]


@pytest.mark.parametrize(("platform", "item", "expected"), OFFERED)
def test_the_actions_offered_on_an_item_depend_on_what_was_stored_about_it(platform, item,
                                                                            expected):
    declared = connector_class(platform)
    assert declared.offered_actions(item) == expected
    for action in set(ACTIONS) - set(expected):
        assert declared.refusal(action, item)


def test_x_names_the_author_to_block_by_hand():
    item = Item("21", "reply", "x", NOW, Author("42", "angrydad"), parent_id="20")
    assert "Block @angrydad from the X app" in connector_class("x").refusal("block", item)


def test_a_declaration_naming_an_unknown_action_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="unknown item kind or action"):
        type("Broken", (Connector,), {"platform": "broken", "kinds": ("comments",),
                                      "supports": {"comment": ("hide", "ban")}})


def test_a_declared_action_without_its_method_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="without a do_ method"):
        type("Broken", (Connector,), {"platform": "broken", "kinds": ("comments",),
                                      "supports": {"comment": ("hide",)}})
