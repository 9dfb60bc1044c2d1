"""Memory stores: a request's memories stored together after its last hop; the request waits for them."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from pathlib import Path

import anyio
import pytest

from hal9 import Runtime
from hal9.config import MemoryConfig
from hal9.memory import MemoryRecord, SQLiteMemory
from hal9.runtime.actor import ActorState
from hal9.testing import capture_logs
from tests.support import Boom, Echo, Fan, config


class HeldMemory(SQLiteMemory):
    """The real SQLite memory, except that stores of the ``hold`` neurons wait for ``release`` first."""

    def __init__(self, path: Path, hold: Container[str] | None = None) -> None:
        super().__init__(path)
        self.hold = hold
        self.release = anyio.Event()
        #: Stores waiting for ``release`` now, and the most that ever waited at once.
        self.held = 0
        self.most_held = 0
        #: Neuron ids of the stores that returned (durable), in order.
        self.stored: list[str] = []
        self._changed = anyio.Event()

    async def store_many(self, records: Sequence[MemoryRecord]) -> list[int]:
        neuron_id = records[0].neuron_id
        if self.hold is None or neuron_id in self.hold:
            self.held += 1
            self.most_held = max(self.most_held, self.held)
            self._notify()
            try:
                await self.release.wait()
            finally:
                self.held -= 1
        ids = await super().store_many(records)
        self.stored.append(neuron_id)
        self._notify()
        return ids

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds; it is checked after each change of the counts above."""
        while not condition():
            await self._changed.wait()


async def kinds(memory: SQLiteMemory, neuron_id: str, trace_id: str) -> list[str]:
    entries = await memory.recent(neuron_id, limit=50)
    return sorted(e.kind for e in entries if e.metadata["trace_id"] == trace_id)


@pytest.mark.anyio
async def test_every_result_and_error_of_a_fanned_out_request_is_stored_when_ask_returns(db_path: Path) -> None:
    """With the request's task, and a failed signal's: a forwarded signal's task is its sender's result already."""
    memory = SQLiteMemory(db_path)
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Fan("fan", ["a", "bad", "c"]), Boom("boom")])
    runtime.connect("fan", "boom")
    async with runtime:
        result = await runtime.ask("req")
        assert result.status == "partial"
        assert await kinds(memory, "fan", result.id) == ["result", "task"]
        assert await kinds(memory, "boom", result.id) == ["error", "result", "result", "task"]


@pytest.mark.anyio
async def test_a_requests_memories_are_stored_together_after_its_last_hop_and_it_ends_once_they_are_durable(
    db_path: Path,
) -> None:
    memory = HeldMemory(db_path)
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Echo("first"), Echo("second")])
    runtime.connect("first", "second")
    async with runtime:
        request = await runtime.submit("x")
        # Both hops are done, and their memories wait in one store: nothing was written per hop.
        await memory.until(lambda: memory.held == 1)
        pending = runtime.lookup(request)
        assert pending.outputs == ("x",)
        assert [hop.neuron_id for hop in pending.path] == ["first", "second"]
        assert pending.status == "pending"
        assert pending.finished_at is None
        assert runtime.active_requests == 1

        memory.release.set()
        result = await runtime.wait(request, timeout=10)
        assert result.status == "completed"
        assert memory.stored == ["first"]  # one store, led by the first neuron's records
        assert memory.commits == 1
        assert await kinds(memory, "first", request) == ["result", "task"]
        assert await kinds(memory, "second", request) == ["result"]


@pytest.mark.anyio
async def test_past_memory_stores_in_flight_a_requests_store_waits_for_a_slot_and_drops_nothing(
    db_path: Path,
) -> None:
    memory = HeldMemory(db_path)
    echo = Echo("echo")
    runtime = Runtime(config(memory_stores_in_flight=2), services={"memory": memory}, neurons=[echo])
    async with runtime:
        requests = [await runtime.submit(f"request {i}") for i in range(3)]
        await memory.until(lambda: memory.held == 2)
        await anyio.wait_all_tasks_blocked()
        # Every signal was processed and the neuron is free; the third store waits for a slot.
        assert echo.status.processed == 3
        assert echo.status.state is ActorState.IDLE
        third = runtime.lookup(requests[2])
        assert third.outputs == ("request 2",)
        assert third.status == "pending"
        assert memory.held == 2

        memory.release.set()
        results = [await runtime.wait(request, timeout=10) for request in requests]
        assert [r.outputs for r in results] == [(f"request {i}",) for i in range(3)]
        assert all(r.ok for r in results)
        for request in requests:
            assert await kinds(memory, "echo", request) == ["result", "task"]
    assert memory.most_held == 2


@pytest.mark.anyio
async def test_a_refused_record_is_logged_the_others_are_stored_and_the_request_completes(db_path: Path) -> None:
    # A real refusal of the service: entries longer than 20 characters are invalid.
    memory = SQLiteMemory(db_path, MemoryConfig(max_content_chars=20))
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Fan("fan", ["ok", "bad"]), Boom("boom")])
    runtime.connect("fan", "boom")
    async with runtime:
        with capture_logs() as logs:
            result = await runtime.ask("a request far longer than the limit")
        assert result.status == "partial"
        assert result.outputs == ("a request far longer than the limit.ok",)
        assert [e.error for e in result.errors] == ["ValueError"]
        failures = [entry for entry in logs if entry["event"] == "memory.remember_failed"]
        # Every record of this request is too long: each is refused and logged on its own (fan's task and
        # result, boom's result of "ok", and its task and error of "bad").
        assert len(failures) == 5
        assert {entry["error"] for entry in failures} == {"InvalidMemoryEntry"}
        assert {entry["neuron_id"] for entry in failures} == {"fan", "boom"}
        assert await kinds(memory, "boom", result.id) == []
        # The next request is served as ever; its records that fit are stored, the long error is not.
        short = await runtime.ask("short")
        assert short.status == "partial"
        assert await kinds(memory, "fan", short.id) == ["result", "task"]
        assert await kinds(memory, "boom", short.id) == ["result", "task"]


@pytest.mark.anyio
async def test_leaving_the_runtime_waits_for_in_flight_stores(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = HeldMemory(db_path)
    runtime = Runtime(config(), services={"memory": memory}, neurons=[Echo("echo")])
    draining = anyio.Event()
    drain = runtime.drain

    async def observed_drain(timeout: float) -> bool:
        draining.set()
        return await drain(timeout)

    monkeypatch.setattr(runtime, "drain", observed_drain)
    request = ""

    async def release_once_draining() -> None:
        await draining.wait()
        await anyio.wait_all_tasks_blocked()
        # The drain is waiting on the request, which only its held store keeps open.
        assert runtime.lookup(request).outputs == ("in flight",)
        assert runtime.lookup(request).status == "pending"
        memory.release.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_once_draining)
        async with runtime:
            request = await runtime.submit("in flight")
            await memory.until(lambda: memory.held == 1)

    assert runtime.lookup(request).status == "completed"
    assert memory.stored == ["echo"]
    async with SQLiteMemory(db_path) as reopened:
        assert await kinds(reopened, "echo", request) == ["result", "task"]


@pytest.mark.anyio
async def test_a_store_still_held_at_the_drain_timeout_is_cancelled_and_its_request_fails(db_path: Path) -> None:
    memory = HeldMemory(db_path)
    runtime = Runtime(config(drain_timeout=0.05), services={"memory": memory}, neurons=[Echo("echo")])
    async with runtime:
        request = await runtime.submit("never stored")
        await memory.until(lambda: memory.held == 1)
        leaving = anyio.current_time()

    assert anyio.current_time() - leaving < 5
    # The store task was cancelled and ended with the runtime's task group: nothing is left behind.
    assert memory.held == 0
    assert memory.stored == []
    result = runtime.lookup(request)
    assert [e.error for e in result.errors] == ["RuntimeNotRunning"]
    assert result.finished_at is not None
    assert runtime.active_requests == 0


@pytest.mark.anyio
async def test_an_error_inside_the_runtime_block_cancels_in_flight_stores_and_fails_their_requests(
    db_path: Path,
) -> None:
    memory = HeldMemory(db_path)
    runtime = Runtime(config(drain_timeout=30), services={"memory": memory}, neurons=[Echo("echo")])
    failure = LookupError("caller failed")
    request = ""

    async def fail_inside() -> None:
        nonlocal request
        async with runtime:
            request = await runtime.submit("never stored")
            await memory.until(lambda: memory.held == 1)
            raise failure

    with pytest.raises(LookupError) as raised:
        await fail_inside()
    assert raised.value is failure
    assert memory.held == 0
    assert memory.stored == []
    assert [e.error for e in runtime.lookup(request).errors] == ["RuntimeNotRunning"]
    assert runtime.active_requests == 0
