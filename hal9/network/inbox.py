"""Receiving signals from other servers: acknowledge, deliver once, and send the result back.

The receiver keys the branch's trace by the signal id, so a duplicate is recognised (a bounded
set: the runtime's trace history) and not delivered twice; when the branch has ended, its result
goes to the sender's ``result`` subject. With the cluster's shared state, the result is first
recorded durably (:mod:`hal9.network.processed`), so a re-send after this server was killed is
answered from the record instead of being processed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from hal9.errors import MailboxFull, NeuronNotFound, NeuronStopped, RuntimeNotRunning
from hal9.network import codec
from hal9.network.link import RETRYABLE, Link
from hal9.network.processed import ProcessedSignals
from hal9.runtime.trace import Trace

if TYPE_CHECKING:
    from nats.aio.msg import Msg

log = structlog.get_logger("hal9.network")


class Inbox:
    """Signals that other servers send to this one.

    Args:
        link: the connection state shared with the rest of the service.
    """

    def __init__(self, link: Link) -> None:
        self._link = link
        #: Where the results of processed signals are kept durably; None: in the trace history only.
        self.processed: ProcessedSignals | None = None

    async def on_signal(self, msg: Msg) -> None:
        """A signal for a neuron of this server: put it in the mailbox and answer how that went."""
        link = self._link
        link.count("received", "signal")
        try:
            signal, sender = codec.decode_signal(msg.data)
        except ValueError as exc:
            log.warning("network.bad_signal", error=str(exc)[:300])
            await self._answer(msg, "error", str(exc))
            return
        router = link.router
        if router is None or link.tasks is None:
            await self._answer(msg, "unavailable", "not running")
            return
        if self.processed is not None and self.processed.worth_asking(resend=not msg.reply):
            stored = await self.processed.get(signal.id)
            if stored is not None:
                # Processed here before (by an earlier run, perhaps): its result, not a second run.
                await self._answer(msg, "duplicate")
                await self._send(stored, sender)
                return
        try:
            trace, new = router.accept_remote(signal)
        except MailboxFull as exc:
            await self._answer(msg, "full", str(exc))
            return
        except (RuntimeNotRunning, NeuronStopped) as exc:
            await self._answer(msg, "unavailable", str(exc))
            return
        except NeuronNotFound as exc:
            await self._answer(msg, "error", str(exc))
            return
        await self._answer(msg, "accepted" if new else "duplicate")
        if new:
            link.tasks.start_soon(self._reply_when_done, trace, sender)
        elif trace.finished_at is not None:
            # The sender still waits for this branch: the first result was lost.
            await self._publish_result(trace, sender)

    async def _answer(self, msg: Msg, status: codec.AckStatus, message: str = "") -> None:
        if not msg.reply:
            return  # a re-send: its sender does not wait for an answer
        try:
            await msg.respond(codec.encode_ack(status, self._link.instance, message[:500]))
        except RETRYABLE as exc:
            log.info("network.ack_failed", error=type(exc).__name__)

    async def _reply_when_done(self, trace: Trace, sender: str) -> None:
        await trace.done.wait()
        payload = codec.encode_result(trace.id, trace.outputs, trace.errors, trace.hops)
        if self.processed is not None:
            # Durable before anyone can see it: a crash after this is answered from the record.
            await self.processed.put(trace.id, payload)
        await self._send(payload, sender)

    async def _publish_result(self, trace: Trace, sender: str) -> None:
        await self._send(codec.encode_result(trace.id, trace.outputs, trace.errors, trace.hops), sender)

    async def _send(self, payload: bytes, sender: str) -> None:
        link = self._link
        client = link.client
        if client is None:
            return
        try:
            link.count("sent", "signal")
            await client.publish(link.subject(sender, "result"), payload)
        except RETRYABLE as exc:
            # The sender re-sends the signal until a result comes; this one is answered again then.
            log.info("network.result_failed", peer=sender, error=type(exc).__name__)
