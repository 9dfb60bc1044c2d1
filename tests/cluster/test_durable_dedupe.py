"""The receiver of a remote signal dedupes durably: a signal it processed before a kill -9 is not processed again."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import nats
import nats.js.errors
import pytest

from hal9 import Layer, Signal
from hal9.cluster import ClusterState
from hal9.config import Config
from hal9.network import codec
from tests.cli.helpers import ServerProcess
from tests.cluster.counting import COUNT_FILE
from tests.network.nats_server import NatsServer

#: Several servers importing at once on a loaded 2-core machine can take longer than the helpers' default.
START_DEADLINE = 60.0

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

ROOT = Path(__file__).parents[2]
RECEIVER = """
server_id = "receiver"
data_dir = "data-receiver"

[[neurons]]
id = "counter"
layer = "L2"
kind = "tests.cluster.counting:CountingNeuron"
"""


def receiver(tmp_path: Path, nats_server: NatsServer, count_file: Path) -> ServerProcess:
    config = tmp_path / "receiver.toml"
    config.write_text(RECEIVER, encoding="utf-8")
    env = {"HAL9_NETWORK__NATS_URL": nats_server.url, COUNT_FILE: str(count_file), "PYTHONPATH": str(ROOT)}
    server = ServerProcess(tmp_path, config, env)
    server.wait_listening(START_DEADLINE)
    return server


async def test_a_signal_processed_before_a_kill_is_answered_from_the_record_after_the_restart(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """The result went to a sender that was not listening; after kill -9 and restart, the re-send is a duplicate
    answered with the stored result, and the neuron ran once."""
    count_file = tmp_path / "runs.txt"
    sent = Signal("00c0ffee000000000001", "00c0ffee000000000001", None, "client", "counter", Layer.L2, "work")
    payload = codec.encode_signal(sent, "sender")
    subject = "hal9.hal9.receiver.signal"
    state = ClusterState(Config.model_validate({"network": {"nats_url": nats_server.url}}).network, "test")
    server = receiver(tmp_path, nats_server, count_file)
    try:
        async with state:
            client = state.client
            ack = await client.request(subject, payload, timeout=5)
            assert codec.decode_ack(ack.data)[0] == "accepted"
            # Recorded before it is published (to a "sender" nobody listens for): wait for the record.
            processed = await state.key_value("processed")
            with anyio.fail_after(10):
                while True:  # written by another process: polled, with a deadline
                    try:
                        stored = (await processed.get(sent.id)).value
                        break
                    except nats.js.errors.KeyNotFoundError:
                        await anyio.sleep(0.02)
            assert stored is not None
            assert codec.decode_result(stored).outputs == ("WORK",)
            server.stop(signal.SIGKILL)
            server.kill()  # closes its pipes

            server = receiver(tmp_path, nats_server, count_file)
            results = await client.subscribe("hal9.hal9.sender.result")
            ack = await client.request(subject, payload, timeout=5)
            assert codec.decode_ack(ack.data)[0] == "duplicate"
            result = codec.decode_result((await results.next_msg(timeout=5)).data)
            assert (result.signal_id, result.outputs) == (sent.id, ("WORK",))
            # A new signal is still processed: the count file is the neuron's, and it ran once per signal.
            fresh = codec.encode_signal(
                Signal("00c0ffee000000000002", "00c0ffee000000000002", None, "client", "counter", Layer.L2, "more"),
                "sender",
            )
            assert codec.decode_ack((await client.request(subject, fresh, timeout=5)).data)[0] == "accepted"
            assert codec.decode_result((await results.next_msg(timeout=5)).data).outputs == ("MORE",)
    finally:
        server.kill()
    assert count_file.read_text(encoding="utf-8").splitlines() == ["work", "more"]


async def test_without_shared_state_a_restarted_receiver_processes_the_resend_again(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """The control: with network.shared_state = false nothing is recorded, so the restart runs the signal again."""
    count_file = tmp_path / "runs.txt"
    sent = Signal("00c0ffee000000000003", "00c0ffee000000000003", None, "client", "counter", Layer.L2, "work")
    payload = codec.encode_signal(sent, "sender")
    client = await nats.connect(nats_server.url)
    server = receiver_unshared(tmp_path, nats_server, count_file)
    try:
        ack = await client.request("hal9.hal9.receiver.signal", payload, timeout=5)
        assert codec.decode_ack(ack.data)[0] == "accepted"
        with anyio.fail_after(10):
            while not count_file.exists():  # noqa: ASYNC110 - written by another process: polled
                await anyio.sleep(0.02)
        server.stop(signal.SIGKILL)
        server.kill()  # closes its pipes
        server = receiver_unshared(tmp_path, nats_server, count_file)
        ack = await client.request("hal9.hal9.receiver.signal", payload, timeout=5)
        assert codec.decode_ack(ack.data)[0] == "accepted"
    finally:
        server.kill()
        await client.close()


def receiver_unshared(tmp_path: Path, nats_server: NatsServer, count_file: Path) -> ServerProcess:
    config = tmp_path / "receiver.toml"
    config.write_text(RECEIVER + "\n[network]\nshared_state = false\n", encoding="utf-8")
    env = {"HAL9_NETWORK__NATS_URL": nats_server.url, COUNT_FILE: str(count_file), "PYTHONPATH": str(ROOT)}
    server = ServerProcess(tmp_path, config, env)
    server.wait_listening(START_DEADLINE)
    return server
