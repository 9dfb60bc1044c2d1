"""Feedback across a cluster: given where the request entered, it reaches the neurons of every server on its path."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from hal9 import Config, Runtime
from hal9.cluster import ClusterState
from hal9.layer import Layer
from hal9.learning.shared import SharedFeedback, branches, decode
from hal9.learning.writer import Failure
from hal9.runtime.trace import Hop
from tests.cluster.sharing import LEARNING, cluster_config, learning_of, memory_of, relay_of, until
from tests.network.nats_server import NatsServer
from tests.network.test_routing import wait_connected

pytestmark = pytest.mark.anyio


async def test_feedback_on_server_a_changes_the_gradient_and_outcomes_of_the_neuron_on_server_b(
    nats_server: NatsServer,
) -> None:
    """plan (a) -> design (b) -> implement (a): a score of 0 on a reaches design on b, per branch it ran."""
    a_config = cluster_config("a", nats_server.url, None, LEARNING, network=True)
    b_config = cluster_config("b", nats_server.url, None, LEARNING, network=True)
    async with Runtime(a_config) as a, Runtime(b_config) as b:
        await wait_connected(a, b)
        result = await a.ask("x", timeout=10)
        assert result.status == "completed", result.errors
        design = learning_of(b).report("design")
        assert design.gradient == 0.0
        assert design.effectiveness == 1.0  # two branches, each a provisional success

        receipt = learning_of(a).feedback(result.id, score=0.0, comment="wrong format")
        # a computes the whole cycle: design's error is passed up from both implement branches.
        assert receipt.errors["design"] == pytest.approx(0.5)
        assert "design" not in receipt.gradients  # not a's neuron: b learns it
        relay = relay_of(b)

        async def applied() -> bool:
            return relay.applied == 1

        await until(applied, lambda: relay.progress)
        design = learning_of(b).report("design")
        assert design.gradient == pytest.approx(0.25)  # smoothing 0.5 of the error 0.5
        assert design.effectiveness == 0.0  # both of its branches are now final failures
        assert design.patterns == {}  # not an output neuron: no pattern counted there
        # A feedback on a path that does not cross a server changes nothing there.
        cycles = b.metrics.sample("hal9_learning_cycles_total")
        elsewhere = (Hop("s9", None, "plan", Layer.L4, "success", 0.0, 0.0),)
        unrelated = SharedFeedback("a", "t9", 0.0, False, 0.0, elsewhere, {"plan": 1.0}, Failure("other", "x"))
        assert learning_of(b).apply_shared(unrelated) == ()
        assert b.metrics.sample("hal9_learning_cycles_total") == cycles
        # a applied its own part (implement's error 1 started a lesson), and not its own feedback again.
        assert receipt.adjusting == ("implement",)
        assert relay_of(a).applied == 0


async def test_a_server_away_when_the_feedback_was_given_applies_it_when_it_is_back(nats_server: NatsServer) -> None:
    """b stops after the request; a takes feedback meanwhile; b's next run (its durable consumer) applies it."""
    a_config = cluster_config("a", nats_server.url, None, LEARNING, network=True)
    b_config = cluster_config("b", nats_server.url, None, LEARNING, network=True)
    async with Runtime(a_config) as a:
        async with Runtime(b_config) as b:
            await wait_connected(a, b)
            result = await a.ask("x", timeout=10)
            assert result.status == "completed", result.errors
        # NATS drops b's last fetch (its connection closed) on its own: until then a message could go to it.
        state = a.services.require(ClusterState)
        with anyio.fail_after(5):
            while True:
                consumer = await state.jetstream.consumer_info(state.stream_name("feedback"), "b")
                if not consumer.num_waiting:
                    break
                await anyio.sleep(0.01)  # polling NATS, another process
        learning_of(a).feedback(result.id, score=0.0)
        relay = relay_of(a)

        async def published() -> bool:
            return relay.published == 1

        await until(published, lambda: relay.progress)
        async with Runtime(b_config) as again:
            relay_again = relay_of(again)

            async def applied() -> bool:
                return relay_again.applied == 1

            await until(applied, lambda: relay_again.progress)
            assert learning_of(again).report("design").gradient == pytest.approx(0.25)


async def test_feedback_on_a_request_that_stayed_on_one_server_is_not_published(nats_server: NatsServer) -> None:
    """A path of a's own neurons only: nothing for the other servers, nothing goes on the stream."""
    config = cluster_config("a", nats_server.url, None, LEARNING)
    async with Runtime(config) as a:
        result = await a.ask("x", timeout=10)
        learning_of(a).feedback(result.id, score=0.0)
        assert relay_of(a).pending == 0
        assert relay_of(a).published == 0


def test_a_shared_feedback_survives_its_encoding_and_bad_input_is_refused() -> None:
    """The message decodes to what was encoded; wrong versions, scores, layers and patterns are errors."""
    hops = (
        Hop("s1", None, "plan", Layer.L4, "success", 0.0, 0.0),
        Hop("s2", "s1", "design", Layer.L3, "error", 0.0, 0.0),
    )
    feedback = SharedFeedback("a", "t1", 0.2, False, 5.0, hops, {"plan": 0.5}, Failure("validation", "bad", "c", None))
    assert decode(feedback.encode()) == feedback
    for broken, why in (
        (b"[]", "version 1"),
        (feedback.encode().replace(b'"v": 1', b'"v": 2'), "version 1"),
        (feedback.encode().replace(b'"score": 0.2', b'"score": 2'), "score"),
        (feedback.encode().replace(b'"L3"', b'"L33"'), "layer or status"),
        (feedback.encode().replace(b'"validation"', b'"made-up"'), "unknown pattern type"),
    ):
        with pytest.raises(ValueError, match=why):
            decode(broken)


async def test_a_server_restores_only_the_lessons_it_stored_not_copies_from_the_shared_memory(tmp_path: Path) -> None:
    """Lesson entries imported from another server (metadata.server) stay out of this server's prompts at start."""
    config = Config.model_validate(
        {"server_id": "a", "data_dir": str(tmp_path), "services": {"memory": "hal9.memory:SQLiteMemory"}}
    )
    async with Runtime(config) as first:
        memory = memory_of(first)
        for text, server in (("Lesson: check the units.", "a"), ("Lesson: rolled back on b.", "b")):
            await memory.store(
                text,
                neuron_id="implementation",
                kind="lesson",
                metadata={"source": "rule", "pattern": "validation", "server": server},
            )
        await memory.store("Lesson: from before servers were named.", neuron_id="implementation", kind="lesson")
    services = {"memory": "hal9.memory:SQLiteMemory", **LEARNING}
    async with Runtime(config.model_copy(update={"services": services})) as again:
        lessons = learning_of(again).report("implementation").lessons
    assert sorted(lesson.text for lesson in lessons) == [
        "check the units.",
        "from before servers were named.",
    ]


def test_the_branches_of_a_path_are_found_per_server_also_in_a_long_or_looping_path() -> None:
    """b's hops get the id of the signal that brought each branch; 20,000 chained hops and a loop stay quick."""

    def hop(signal_id: str, parent_id: str | None, neuron_id: str) -> Hop:
        return Hop(signal_id, parent_id, neuron_id, Layer.L3, "success", 0.0, 0.0)

    path = [hop("t", None, "plan"), hop("s1", "t", "design"), hop("s2", "s1", "review"), hop("s3", "s2", "implement")]
    path.append(hop("s4", "t", "design"))
    found = [(h.signal_id, branch) for h, branch in branches(path, {"design", "review"})]
    assert found == [("s1", "s1"), ("s2", "s1"), ("s4", "s4")]
    chain = [hop("0", "x", "n"), *(hop(str(i), str(i - 1), "n") for i in range(1, 20_000))]
    assert {branch for _, branch in branches(chain, {"n"})} == {"0"}
    loop = [hop("a", "b", "n"), hop("b", "a", "n")]
    assert len(branches(loop, {"n"})) == 2
