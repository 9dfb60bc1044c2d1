"""The bounded mailbox: FIFO, capacity, waiting senders, timeouts that deliver nothing, closing."""

from __future__ import annotations

import anyio
import pytest

from hal9.errors import MailboxFull, NeuronStopped
from hal9.runtime.mailbox import Mailbox


async def drain(mailbox: Mailbox[str]) -> list[str]:
    """Everything left in a closed mailbox."""
    items = []
    while True:
        try:
            items.append(await mailbox.get())
        except anyio.EndOfStream:
            return items


@pytest.mark.anyio
async def test_items_come_out_in_order_and_size_counts_them() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=3)
    mailbox.put_nowait("a")
    await mailbox.put("b", timeout=1)
    assert mailbox.size == 2
    assert await mailbox.get() == "a"
    assert await mailbox.get() == "b"
    assert mailbox.size == 0


@pytest.mark.anyio
async def test_put_nowait_on_a_full_mailbox_raises_mailbox_full_and_delivers_nothing() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=2)
    mailbox.put_nowait("a")
    mailbox.put_nowait("b")
    with pytest.raises(MailboxFull) as full:
        mailbox.put_nowait("c")
    assert (full.value.neuron_id, full.value.timeout) == ("n", 0.0)
    assert mailbox.size == 2


@pytest.mark.anyio
async def test_put_on_a_full_mailbox_waits_for_room() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=1)
    mailbox.put_nowait("first")
    async with anyio.create_task_group() as tg:
        tg.start_soon(mailbox.put, "second", 10)
        assert await mailbox.get() == "first"
        assert await mailbox.get() == "second"
    assert mailbox.size == 0


@pytest.mark.anyio
async def test_timed_out_put_raises_mailbox_full_and_delivers_nothing() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=1)
    mailbox.put_nowait("kept")
    started = anyio.current_time()
    with pytest.raises(MailboxFull) as full:
        await mailbox.put("late", timeout=0.02)
    assert anyio.current_time() - started >= 0.02 - 1e-3
    assert full.value.timeout == 0.02
    assert "stayed full" in str(full.value)
    mailbox.close()
    assert await drain(mailbox) == ["kept"]


@pytest.mark.anyio
async def test_put_cancelled_while_waiting_delivers_nothing_and_frees_no_extra_slot() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=1)
    mailbox.put_nowait("kept")
    with anyio.move_on_after(0.01) as scope:
        await mailbox.put("abandoned", timeout=10)
    assert scope.cancelled_caught
    assert await mailbox.get() == "kept"
    mailbox.put_nowait("next")  # exactly one slot came back
    with pytest.raises(MailboxFull):
        mailbox.put_nowait("one too many")
    mailbox.close()
    assert await drain(mailbox) == ["next"]


@pytest.mark.anyio
async def test_closed_mailbox_refuses_new_items_but_hands_out_queued_ones_then_ends() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=4)
    mailbox.put_nowait("a")
    mailbox.put_nowait("b")
    mailbox.close()
    assert mailbox.closed
    with pytest.raises(NeuronStopped) as stopped:
        mailbox.put_nowait("c")
    assert stopped.value.neuron_id == "n"
    with pytest.raises(NeuronStopped):
        await mailbox.put("c", timeout=1)
    assert await mailbox.get() == "a"
    assert await mailbox.get() == "b"
    with pytest.raises(anyio.EndOfStream):
        await mailbox.get()
    with pytest.raises(anyio.EndOfStream):  # and stays ended
        await mailbox.get()
    mailbox.close()  # closing twice is harmless


@pytest.mark.anyio
async def test_close_wakes_a_waiting_receiver_with_end_of_stream() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=1)
    ended = anyio.Event()

    async def receive() -> None:
        with pytest.raises(anyio.EndOfStream):
            await mailbox.get()
        ended.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(receive)
        await anyio.wait_all_tasks_blocked()
        mailbox.close()
        await ended.wait()


@pytest.mark.anyio
async def test_sender_waiting_when_the_mailbox_closes_gets_neuron_stopped_not_a_delivery() -> None:
    mailbox: Mailbox[str] = Mailbox("n", capacity=1)
    mailbox.put_nowait("queued")
    outcome: list[str] = []

    async def send() -> None:
        try:
            await mailbox.put("waiting", timeout=10)
        except NeuronStopped:
            outcome.append("stopped")
        else:
            outcome.append("delivered")

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await anyio.wait_all_tasks_blocked()
        mailbox.close()
        assert await mailbox.get() == "queued"  # frees the slot the sender waits for
    assert outcome == ["stopped"]
    assert await drain(mailbox) == []
