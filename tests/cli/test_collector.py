"""The server's garbage collection settings: start-up objects frozen, young collections less often."""

from __future__ import annotations

import gc
import weakref

from hal9.cli.collector import SERVER_THRESHOLDS, settle_garbage_collection


class _Node:
    next: _Node | None = None


def test_what_exists_at_start_up_is_frozen_and_the_thresholds_are_raised() -> None:
    before = gc.get_threshold()
    try:
        settle_garbage_collection()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == SERVER_THRESHOLDS
        # Objects made after the freeze are still collected: a cycle created now is freed.
        node = _Node()
        node.next = node
        ref = weakref.ref(node)
        del node
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
