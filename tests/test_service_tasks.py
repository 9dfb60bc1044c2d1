"""A service's own task group: its tasks end with the service's ``async with``, and what the block raised
comes out as it was raised, not wrapped in an exception group."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from hal9.memory import SQLiteMemory
from hal9.support.background import BackgroundTasks, service_tasks


@pytest.mark.anyio
async def test_an_error_of_the_block_comes_out_unwrapped_and_the_tasks_are_cancelled() -> None:
    cancelled = anyio.Event()

    async def forever() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async def block() -> None:
        async with service_tasks() as tasks:
            tasks.start_soon(forever)
            await anyio.lowlevel.checkpoint()
            raise ValueError("the block's")

    with pytest.raises(ValueError, match="the block's"):
        await block()
    assert cancelled.is_set()


@pytest.mark.anyio
async def test_a_service_entered_with_async_with_gives_back_the_error_of_its_block(tmp_path: Path) -> None:
    async def block() -> None:
        async with SQLiteMemory(tmp_path / "m.db") as memory:
            await memory.store("kept", neuron_id="n")
            raise KeyError("mine")

    with pytest.raises(KeyError):
        await block()
    async with SQLiteMemory(tmp_path / "m.db") as memory:
        assert [entry.content for entry in await memory.recent("n")] == ["kept"]


@pytest.mark.anyio
async def test_background_work_runs_only_inside_the_async_with_and_is_waited_for() -> None:
    background = BackgroundTasks()
    done: list[str] = []
    release = anyio.Event()

    async def work(name: str) -> None:
        await release.wait()
        done.append(name)

    background.spawn(work, "before")  # not running: dropped
    async with background:
        assert background.running
        background.spawn(work, "inside")
        release.set()
        await background.wait_idle()
    assert not background.running
    assert done == ["inside"]
