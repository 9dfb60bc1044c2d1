"""Fixtures shared with other test packages."""

from tests.cli.conftest import start_server  # noqa: F401 - real `python -m hal9 serve` processes, for test_served
