"""The runtime's tests run on asyncio and on Trio, as anyio's own tests do: one ``anyio_backend`` per backend."""

from __future__ import annotations

import importlib.util

import pytest

#: Trio runs when it is installed (the ``dev`` extra should bring it); without it the Trio runs are skipped, visibly.
HAVE_TRIO = importlib.util.find_spec("trio") is not None


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio", marks=pytest.mark.skipif(not HAVE_TRIO, reason="trio is not installed")),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Each ``@pytest.mark.anyio`` test of the runtime runs once per backend."""
    backend: str = request.param
    return backend


#: For a test of something that only asyncio has (say, a library without Trio support): ``@asyncio_only``.
asyncio_only = pytest.mark.usefixtures("_skip_on_trio")


@pytest.fixture
def _skip_on_trio(anyio_backend: str) -> None:
    if anyio_backend == "trio":
        pytest.skip("asyncio only")
