"""The contract every connector must pass.

Each platform's test module subclasses `ConnectorContract` (as `TestXContract` etc.) and implements
`build()` to return a connector wired to recorded responses, never to a live platform.
"""

from __future__ import annotations

import json
from datetime import datetime

from connectors import REGISTRY, connector_class
from connectors.base import (
    ACTIONS,
    ITEM_KINDS,
    SOURCE_KINDS,
    ActionResult,
    CheckResult,
    Connector,
    Item,
    Page,
    SourceSpec,
)


class ConnectorContract:
    def build(self) -> tuple[Connector, SourceSpec]:
        """A connector and a source whose recorded world holds at least one item."""
        raise NotImplementedError

    def poll(self, cursor=None) -> tuple[list[Page], Connector, SourceSpec]:
        connector, source = self.build()
        return list(connector.fetch(source, cursor)), connector, source

    def test_it_is_registered_under_its_platform_name(self):
        connector, _ = self.build()
        assert REGISTRY[connector.platform]
        assert connector_class(connector.platform) is type(connector)

    def test_it_declares_known_kinds_and_actions(self):
        connector, source = self.build()
        assert connector.kinds and set(connector.kinds) <= set(SOURCE_KINDS)
        assert set(connector.actions) <= set(ACTIONS)
        assert source.kind in connector.kinds

    def test_only_the_final_page_is_marked_last(self):
        pages, _, _ = self.poll()
        assert pages, "fetch yielded no page at all"
        assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]

    def test_items_are_normalised(self):
        pages, _, _ = self.poll()
        items = [item for page in pages for item in page.items]
        assert items, "the recorded world should hold items"
        for item in items:
            assert isinstance(item, Item)
            assert isinstance(item.external_id, str) and item.external_id
            assert isinstance(item.text, str)
            assert isinstance(item.created_at, datetime) and item.created_at.utcoffset() is not None
            assert item.created_at.utcoffset().total_seconds() == 0

    def test_progress_is_plain_json(self):
        pages, _, _ = self.poll()
        for page in pages:
            assert json.loads(json.dumps(page.progress)) == page.progress

    def test_polling_again_from_the_saved_cursor_reads_nothing_twice(self):
        pages, _, _ = self.poll()
        seen = {item.external_id for page in pages for item in page.items}
        again, _, _ = self.poll(cursor=pages[-1].progress)
        repeated = {item.external_id for page in again for item in page.items} & seen
        assert not repeated
        assert again and again[-1].last

    def test_check_answers_in_words(self):
        connector, _ = self.build()
        result = connector.check()
        assert isinstance(result, CheckResult)
        assert isinstance(result.message, str) and result.message

    def test_capabilities_are_declared_per_item_kind_with_a_reason_for_each_refusal(self):
        connector, _ = self.build()
        declared = type(connector)
        for kind in ITEM_KINDS:
            supported = declared.supported_actions(kind)
            assert supported == tuple(a for a in ACTIONS if a in supported), "canonical order"
            for action in ACTIONS:
                reason = declared.unsupported_reason(action, kind)
                assert (reason is None) == (action in supported), (action, kind)
                if reason is not None:
                    assert reason.strip() and "\n" not in reason
        union = {a for kind in ITEM_KINDS for a in declared.supported_actions(kind)}
        assert set(connector.actions) == union

    def test_an_unsupported_action_is_refused_with_its_reason_not_raised(self):
        connector, _ = self.build()
        pages, _, _ = self.poll()
        item = next(item for page in pages for item in page.items)
        for action in ACTIONS:
            if type(connector).unsupported_reason(action, item.kind) is None:
                continue
            result = connector.act(action, item)
            assert isinstance(result, ActionResult)
            assert result.ok is False
            assert result.message == type(connector).refusal(action, item)
            assert action not in type(connector).offered_actions(item)
