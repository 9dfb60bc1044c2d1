"""A guard on every tools test: no connection to, nor resolution of, anything but loopback.

``socket.getaddrinfo`` answers numeric hosts (in any spelling the C library accepts) and the
names in ``LOOPBACK_NAMES``; any other name is refused. ``connect`` to a non-loopback address
is refused. Each attempt is recorded and fails the test at teardown, even if the code under
test turned the refusal into a tool error.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

#: Names the guard resolves, all to loopback (a "name that resolves to loopback" for the SSRF tests).
LOOPBACK_NAMES = {"localhost": "127.0.0.1", "loopback.test": "127.0.0.1", "metadata.test": "127.0.0.1"}


class NetworkGuardError(AssertionError):
    """A test tried to reach beyond loopback."""


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):
        return True  # AF_UNIX
    try:
        return ipaddress.ip_address(str(address[0]).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse and record every resolution of a real name and every non-loopback connect."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else host
        if name is None:
            return real_getaddrinfo(host, port, family, type, proto, flags)
        if name in LOOPBACK_NAMES:
            return real_getaddrinfo(LOOPBACK_NAMES[name], port, family, type, proto, flags)
        try:
            return real_getaddrinfo(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            attempts.append(f"resolve {name!r}")
            raise NetworkGuardError(f"a test tried to resolve {name!r}") from None

    def check(address: Any) -> None:
        if not _is_loopback(address):
            attempts.append(f"connect {address!r}")
            raise NetworkGuardError(f"a test tried to connect to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    assert not attempts, f"the test tried to reach beyond loopback: {attempts}"
