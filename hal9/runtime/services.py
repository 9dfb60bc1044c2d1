"""A runtime's services, found by what they provide (a class or protocol), or by the name the configuration gives."""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, ValuesView
from typing import Any, TypeVar, cast

from hal9.errors import ServiceUnavailable
from hal9.runtime.service import Service

T = TypeVar("T")


class Services:
    """The services of one runtime.

    Code that uses a service asks for what it needs, typed for mypy::

        memory = runtime.services.get(Memory)      # Memory | None
        llm = runtime.services.require(LLM)        # LLM, or ServiceUnavailable

    ``kind`` is a class (``SQLiteMemory``) or a runtime-checkable protocol (:class:`~hal9.Memory`,
    :class:`~hal9.LLM`, :class:`~hal9.Tools`, a user's own). When several services provide it,
    the first one added wins; the others are reached by name, ``runtime.services["archive"]``.
    Names are what the configuration gives (``services = {memory = "..."}``) and what the
    runtime's metrics and logs show.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, Service] = {}
        # kind -> the service that provides it (or None): an isinstance() against a protocol
        # checks every member, so each kind is looked up once (services are fixed once running).
        self._by_kind: dict[object, Any] = {}

    def add(self, name: str, service: Service) -> None:
        """Add ``service`` under ``name``, replacing one of that name (the runtime calls this)."""
        self._by_name[name] = service
        self._by_kind.clear()

    # ``Callable[..., T]`` rather than ``type[T]``: mypy refuses a protocol or an abstract class
    # where ``type[T]`` is expected (its "type-abstract" error), and both are what callers pass.
    def get(self, kind: Callable[..., T]) -> T | None:
        """The service that is a ``kind``, or None."""
        try:
            found: T | None = self._by_kind[kind]
        except KeyError:
            found = self._by_kind[kind] = self._find(kind)
        return found

    def require(self, kind: Callable[..., T]) -> T:
        """The service that is a ``kind``.

        Raises:
            ServiceUnavailable: no service of the runtime is one.
        """
        found = self.get(kind)
        if found is None:
            raise ServiceUnavailable(getattr(kind, "__name__", repr(kind)))
        return found

    def _find(self, kind: Callable[..., T]) -> T | None:
        if not isinstance(kind, type):
            hint = f"; by name it is services[{kind!r}]" if isinstance(kind, str) else ""
            raise TypeError(f"services are looked up by a class or protocol, not {kind!r}{hint}")
        found = next((service for service in self._by_name.values() if isinstance(service, kind)), None)
        return cast("T | None", found)  # isinstance() of a ``kind`` narrowed only to ``type``

    def __getitem__(self, name: str) -> Service:
        """The service the configuration calls ``name``; KeyError if there is none."""
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def items(self) -> ItemsView[str, Service]:
        return self._by_name.items()

    def values(self) -> ValuesView[Service]:
        return self._by_name.values()

    def __repr__(self) -> str:
        return f"Services({', '.join(f'{name}={type(s).__name__}' for name, s in self._by_name.items())})"
