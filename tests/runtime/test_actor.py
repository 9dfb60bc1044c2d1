"""The Actor base class: lifecycle, supervision with backoff, and a mailbox that outlives crashes."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import hal9.runtime.actor as actor_module
from hal9.runtime.actor import Actor, ActorState
from tests.support import FAST_BACKOFF


class Recorder(Actor[str]):
    """Handles strings; crashes its loop on those starting with ``crash``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder", **kwargs)
        self.handled: list[str] = []
        self.crashed: list[tuple[str, str]] = []

    async def _handle(self, item: str) -> None:
        if item.startswith("crash"):
            raise RuntimeError(f"loop broke on {item}")
        self.handled.append(item)

    def _on_crash(self, item: str, exc: Exception) -> None:
        self.crashed.append((item, type(exc).__name__))


class RecordingLog:
    """Stands in for the module's structlog logger, independent of any global structlog set-up."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def exception(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


async def run_to_completion(actor: Recorder, items: list[str]) -> None:
    """Queue ``items``, close the mailbox and run the loop until it has drained."""
    for item in items:
        actor.mailbox.put_nowait(item)
    actor.close()
    async with anyio.create_task_group() as tg:
        await tg.start(actor.run)
    await actor.wait_stopped()


@pytest.mark.anyio
async def test_started_actor_is_running_and_healthy_until_closed_and_drained() -> None:
    actor = Recorder(restart_backoff=FAST_BACKOFF)
    assert not actor.healthy
    async with anyio.create_task_group() as tg:
        await tg.start(actor.run)
        assert actor.running
        assert actor.healthy
        assert actor.state is ActorState.IDLE
        actor.mailbox.put_nowait("a")
        actor.mailbox.put_nowait("b")
        actor.close()
        await actor.wait_stopped()
        assert actor.handled == ["a", "b"]
    assert not actor.running
    assert not actor.healthy


@pytest.mark.anyio
async def test_crashed_loop_is_restarted_fails_the_item_in_hand_and_keeps_the_queue() -> None:
    actor = Recorder(restart_backoff=FAST_BACKOFF)
    await run_to_completion(actor, ["a", "crash-1", "b", "c"])

    assert actor.restarts == 1
    assert actor.crashed == [("crash-1", "RuntimeError")]
    assert actor.handled == ["a", "b", "c"]
    assert actor.queue_size == 0
    # The base class marks the crash; a subclass (Neuron) clears the state on its next success.
    assert actor.state is ActorState.ERROR


@pytest.mark.anyio
async def test_restart_backoff_doubles_per_consecutive_crash_up_to_its_maximum_and_resets_on_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = RecordingLog()
    monkeypatch.setattr(actor_module, "log", log)
    actor = Recorder(restart_backoff=(0.001, 0.003))
    await run_to_completion(actor, ["crash-1", "crash-2", "crash-3", "ok", "crash-4"])

    delays = [fields["restart_in"] for event, fields in log.events if event == "actor.crashed"]
    assert delays == [0.001, 0.002, 0.003, 0.001]
    assert [event for event, _ in log.events].count("actor.restarted") == 4
    assert actor.restarts == 4
    assert actor.handled == ["ok"]


@pytest.mark.anyio
async def test_cancelled_actor_stops_and_reports_stopped() -> None:
    actor = Recorder(restart_backoff=FAST_BACKOFF)
    async with anyio.create_task_group() as tg:
        await tg.start(actor.run)
        tg.cancel_scope.cancel()
    await actor.wait_stopped()
    assert not actor.running
