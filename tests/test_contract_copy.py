"""The suite's copy of the metrics contract is the team's contract."""

from __future__ import annotations

import pytest

from tests.contract import CONTRACT, SHARED_CONTRACT


def test_the_copy_in_tests_data_matches_shared_when_shared_is_present() -> None:
    """A changed contract in shared/ must be copied here, or the tests would check an old one."""
    if not SHARED_CONTRACT.exists():
        pytest.skip("no shared/ folder beside this checkout")
    assert CONTRACT.read_text() == SHARED_CONTRACT.read_text()
