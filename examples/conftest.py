import sys
from pathlib import Path

import pytest

# The example's test imports the example module by name, as a user's test would.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
