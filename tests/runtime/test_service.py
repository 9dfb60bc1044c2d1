"""The Service base class measures every operation; a user's own service is measured for free."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from hal9 import LLM, Config, LLMResponse, Memory, Neuron, Runtime, Service, Signal
from hal9.errors import ServiceUnavailable, TopologyError
from tests.support import config, sample

OPERATIONS = "hal9_service_operations_total"
DURATION = "hal9_service_operation_duration_seconds"


class KeyValue(Service):
    """A user's own service: a dict, with a lifecycle of one ``async with``."""

    name = "kv"

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.started = False
        self.stopped = False

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[KeyValue]:
        self.started = True
        try:
            yield self
        finally:
            self.stopped = True

    async def put(self, key: str, value: Any) -> None:
        async with self.measure(operation="put"):
            if not key:
                raise ValueError("empty key")
            self.data[key] = value

    def get(self, key: str) -> Any:
        with self.measure(operation="get"):
            return self.data[key]

    async def wait_forever(self) -> None:
        async with self.measure(operation="wait"):
            await anyio.sleep_forever()


class Writer(Neuron):
    """Stores each signal's content through the ``kv`` service."""

    async def process(self, signal: Signal) -> str:
        await self.service(KeyValue).put(signal.content, True)
        return "stored"


@pytest.mark.anyio
async def test_user_service_operations_are_counted_by_status_in_the_runtime_registry() -> None:
    kv = KeyValue()
    rt = Runtime(config(), services={"kv": kv}, neurons=[Writer("writer")])
    async with rt:
        assert kv.started
        stored = await rt.ask("apple")
        refused = await rt.ask("")

    assert kv.stopped
    assert stored.ok
    assert refused.status == "failed"
    assert refused.errors[0].error == "ValueError"
    labels = {"service": "kv", "operation": "put"}
    assert sample(rt, OPERATIONS, **labels, status="success") == 1
    assert sample(rt, OPERATIONS, **labels, status="error") == 1
    assert sample(rt, f"{DURATION}_count", **labels) == 2
    assert sample(rt, f"{DURATION}_bucket", **labels, le="+Inf") == 2


@pytest.mark.anyio
async def test_measure_records_success_error_and_duration_per_operation() -> None:
    kv = KeyValue()
    await kv.put("a", 1)
    await kv.put("b", 2)
    with pytest.raises(ValueError, match="empty key"):
        await kv.put("", 3)
    assert kv.get("a") == 1
    with pytest.raises(KeyError):
        kv.get("missing")

    registry = kv.metrics.registry
    for operation, success, error in (("put", 2, 1), ("get", 1, 1)):
        labels = {"service": "kv", "operation": operation}
        assert registry.get_sample_value(OPERATIONS, {**labels, "status": "success"}) == success
        assert registry.get_sample_value(OPERATIONS, {**labels, "status": "error"}) == error
        assert registry.get_sample_value(f"{DURATION}_count", labels) == success + error
        assert registry.get_sample_value(f"{DURATION}_sum", labels) >= 0


@pytest.mark.anyio
async def test_cancelled_operation_is_counted_neither_as_error_nor_as_success() -> None:
    kv = KeyValue()
    with anyio.move_on_after(0.01) as scope:
        await kv.wait_forever()
    assert scope.cancelled_caught

    labels = {"service": "kv", "operation": "wait"}
    registry = kv.metrics.registry
    assert registry.get_sample_value(OPERATIONS, {**labels, "status": "error"}) == 0
    assert registry.get_sample_value(OPERATIONS, {**labels, "status": "success"}) == 0


def test_measure_without_a_required_label_is_refused() -> None:
    with pytest.raises(ValueError, match="operation"):
        KeyValue().measure()


@pytest.mark.anyio
async def test_service_measures_into_the_registry_of_the_runtime_it_joins() -> None:
    kv = KeyValue()
    rt = Runtime(config(), services={"kv": kv}, neurons=[Writer("writer")])
    assert kv.metrics is rt.metrics
    async with rt:
        await rt.ask("x")
    assert sample(rt, OPERATIONS, service="kv", operation="put", status="success") == 1


@pytest.mark.anyio
async def test_services_are_added_before_start_only() -> None:
    async with Runtime(config(), neurons=[Writer("writer")]) as rt:
        with pytest.raises(TopologyError):
            rt.add_service("kv", KeyValue())


def test_services_given_to_the_runtime_override_the_configured_ones() -> None:
    mine = KeyValue()
    rt = Runtime(config(), services={"llm": mine}, neurons=[Writer("writer")])
    assert rt.services["llm"] is mine
    assert sorted(rt.services) == ["llm"]


class Brain(Service):
    """A user's own LLM under a name of its own: an LLM because it has ``complete``."""

    async def complete(self, *, system: str, prompt: str, **kwargs: Any) -> LLMResponse:
        return LLMResponse(f"brain: {prompt}", "brain", 1, 1)


class AsksTheLLM(Neuron):
    async def process(self, signal: Signal) -> str:
        return (await self.llm.complete(system="", prompt=str(signal.content))).text


@pytest.mark.anyio
async def test_a_service_is_found_by_the_protocol_it_provides_whatever_its_name() -> None:
    brain = Brain()
    rt = Runtime(Config(services={}), services={"brain": brain}, neurons=[AsksTheLLM("n")])
    assert rt.services.get(LLM) is brain
    assert rt.services.get(Brain) is brain
    async with rt:
        result = await rt.ask("hi")
    assert result.outputs == ("brain: hi",)


def test_a_missing_service_is_none_from_get_and_an_error_naming_it_from_require() -> None:
    rt = Runtime(Config(services={}), neurons=[Writer("writer")])
    assert rt.services.get(Memory) is None
    with pytest.raises(ServiceUnavailable, match="no 'Memory' service"):
        rt.services.require(Memory)


def test_when_two_services_provide_a_kind_the_first_added_wins_and_the_other_is_reached_by_name() -> None:
    first, second = KeyValue(), KeyValue()
    rt = Runtime(Config(services={}), services={"kv": first, "archive": second}, neurons=[Writer("writer")])
    assert rt.services.get(KeyValue) is first
    assert rt.services["archive"] is second
    assert list(rt.services) == ["kv", "archive"]


def test_a_lookup_by_name_string_is_refused_with_the_way_to_do_it() -> None:
    rt = Runtime(Config(services={}), services={"kv": KeyValue()}, neurons=[Writer("writer")])
    with pytest.raises(TypeError, match=r"by name it is services\['kv'\]"):
        rt.services.get("kv")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_sqlite_memory_starts_on_asyncio_and_says_it_runs_there_only_on_trio(anyio_backend: str) -> None:
    from hal9.memory import SQLiteMemory

    async def started() -> bool:
        async with SQLiteMemory(None) as memory:
            return memory.running

    if anyio_backend == "asyncio":
        assert await started()
    else:
        with pytest.raises(RuntimeError, match="SQLiteMemory runs on asyncio only"):
            await started()
