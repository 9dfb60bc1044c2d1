"""pytest fixtures for HAL9 users, registered through the ``pytest11`` entry point.

Async tests run with anyio's pytest plugin: mark them ``@pytest.mark.anyio``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hal9.llm.mock import MockLLM
from hal9.runtime.runtime import Runtime
from hal9.testing import running_runtime


@pytest.fixture
def mock_llm() -> MockLLM:
    """A fresh deterministic mock LLM; script it through ``mock_llm.replies`` or use ``scripted_llm``."""
    return MockLLM()


@pytest.fixture
async def hal9_runtime(mock_llm: MockLLM) -> AsyncIterator[Runtime]:
    """A started runtime with the default L4 -> L3 -> L2 network on ``mock_llm``."""
    async with running_runtime(llm=mock_llm) as runtime:
        yield runtime
