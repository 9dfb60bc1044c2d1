"""What the parts of the network service share: the NATS client, the router, the task group, subjects.

The service (:mod:`hal9.network.service`) owns one :class:`Link` and hands it to its parts (the
outbox that sends, the inbox that receives, the heartbeat loop); it sets ``client`` and ``tasks``
in ``start`` and clears them in ``stop``, so every part sees the same connection state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from anyio.abc import TaskGroup

from hal9.config import NetworkConfig
from hal9.network.metrics import Direction, MessageType
from hal9.runtime.transport import RemoteRouter

try:
    import nats.errors
    from nats.aio.client import Client
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("distributed mode needs nats-py: pip install 'hal9[distributed]'") from exc

#: Errors of one NATS request that a retry may cure (no answer, no subscriber yet, reconnecting).
RETRYABLE = (nats.errors.Error, TimeoutError, OSError)


@dataclass(slots=True, eq=False)
class Link:
    """The connection state shared by the parts of one :class:`~hal9.network.service.NatsNetwork`.

    Args:
        settings: the ``[network]`` section.
        server_id: this server's id.
        instance: this run's instance id (changes every run).
        count: counts one message in ``hal9_network_messages_total``.
    """

    settings: NetworkConfig
    server_id: str
    instance: str
    count: Callable[[Direction, MessageType], None]
    client: Client | None = None
    router: RemoteRouter | None = None
    tasks: TaskGroup | None = None
    #: The cluster's subject prefix, ``hal9.<cluster>``; computed once, it is on every subject.
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = f"hal9.{self.settings.cluster}"

    def subject(self, server_id: str, kind: str) -> str:
        """The subject of ``kind`` (signal, result, ping) on server ``server_id``."""
        return f"{self.prefix}.{server_id}.{kind}"
