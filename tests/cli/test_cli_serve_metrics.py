"""A real server: requests flow L4 -> L3 -> L2, and its scrape honours the metrics contract."""

from __future__ import annotations

import os
import shutil
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.helpers import StartServer, contract, samples, value

pytestmark = pytest.mark.slow

SERVER_ID = "contract-test"
CONFIG = f'server_id = "{SERVER_ID}"\n'
#: Four words fan out into 2 directives, more than six into 3 (the mock's templates).
REQUESTS = [
    "Build a todo app",
    "Write a haiku",
    "Build a small todo app with tags and due dates",
    "Plan a trip to the mountains next summer with friends",
    "Sort a list",
]
SYSTEM_AND_NEURON = contract("System Metrics", "Neuron Metrics")


def test_contract_has_the_twelve_system_and_neuron_families() -> None:
    """The contract file is read as expected: 12 System and Neuron families (guards the parsing below)."""
    assert len(SYSTEM_AND_NEURON) == 12


def test_requests_flow_through_the_layers_and_the_scrape_matches_contract_and_work(start_server: StartServer) -> None:
    """After N requests a real scrape has the 12 families with the contract's types, labels, buckets and counts."""
    server = start_server(CONFIG)
    outputs = 0
    with httpx.Client(base_url=server.url, timeout=15) as client:
        for content in REQUESTS:
            response = client.post("/api/v1/signals", json={"content": content, "wait": True})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["status"] == "completed"
            assert body["path"][0]["layer"] == "L4"
            assert {hop["layer"] for hop in body["path"]} == {"L4", "L3", "L2"}
            assert len(body["outputs"]) in (2, 3)
            outputs += len(body["outputs"])
        text = client.get("/metrics").text

    n = len(REQUESTS)
    assert outputs == 2 * n + 2  # two of the requests are long enough for a third directive

    # -- shape: the contract's families, types, label names, fixed values and buckets --
    families = samples(text)
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    for row in SYSTEM_AND_NEURON:
        assert row.parsed_name in families, f"{row.name} missing from the scrape"
        assert types[row.parsed_name] == row.type, row.name
        family_samples = families[row.parsed_name]
        assert family_samples, f"{row.name} has no samples"
        for sample in family_samples:
            assert set(sample.labels) - {"le"} == row.labels, (row.name, sample)
            for label, allowed in row.values.items():
                if label == "status" and row.name == "hal9_http_requests_total":
                    assert sample.labels[label].isdigit()  # real statuses; 200/400/500 are examples
                else:
                    assert sample.labels[label] in allowed, (row.name, sample)
            if "server_id" in row.labels:
                assert sample.labels["server_id"] == SERVER_ID
        if row.buckets is not None:
            for series in {tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")) for s in family_samples}:
                bounds = sorted(
                    float(s.labels["le"])
                    for s in family_samples
                    if s.name.endswith("_bucket") and all(s.labels[k] == v for k, v in series)
                )
                assert bounds == [*row.buckets, float("inf")], (row.name, series)
    assert "_created" not in text
    assert not any(name.endswith("_created") for name in families)

    # -- values: what the work done says they must be --
    def processed(neuron_id: str, layer: str, status: str = "success") -> float | None:
        return value(text, "hal9_signals_processed_total", neuron_id=neuron_id, layer=layer, status=status)

    assert processed("strategic", "L4") == n
    assert processed("design", "L3") == outputs
    assert processed("implementation", "L2") == outputs
    for neuron_id, layer in (("strategic", "L4"), ("design", "L3"), ("implementation", "L2")):
        assert processed(neuron_id, layer, "error") == 0
        assert value(text, "hal9_neuron_health", neuron_id=neuron_id, layer=layer) == 1
        assert value(text, "hal9_neuron_state", neuron_id=neuron_id, state="idle") == 1
        assert value(text, "hal9_neuron_state", neuron_id=neuron_id, state="processing") == 0
        assert value(text, "hal9_neuron_state", neuron_id=neuron_id, state="error") == 0
        assert value(text, "hal9_neuron_queue_size", neuron_id=neuron_id) == 0
    assert value(text, "hal9_signal_processing_duration_seconds_count", neuron_id="strategic", layer="L4") == n
    assert value(text, "hal9_signal_processing_duration_seconds_count", neuron_id="design", layer="L3") == outputs
    assert value(text, "hal9_signals_forwarded_total", from_neuron="strategic", to_neuron="design") == outputs
    assert value(text, "hal9_signals_forwarded_total", from_neuron="design", to_neuron="implementation") == outputs
    posts = {"method": "POST", "endpoint": "/api/v1/signals"}
    assert value(text, "hal9_http_requests_total", **posts, status="200") == n
    assert value(text, "hal9_http_request_duration_seconds_count", **posts) == n
    assert value(text, "hal9_websocket_connections_active") == 0
    # The scrape itself is the one request in flight while the exposition is rendered.
    assert value(text, "hal9_server_connections_active", server_id=SERVER_ID) == 1
    assert value(text, "hal9_server_uptime_seconds", server_id=SERVER_ID) > 0
    assert value(text, "hal9_server_memory_bytes", server_id=SERVER_ID, type="heap") > 10_000_000
    assert value(text, "hal9_server_memory_bytes", server_id=SERVER_ID, type="stack") > 0

    assert server.stop() == 0
    assert server.logged("server.stopped")
    assert server.stderr() == "", server.output()
    assert (server.cwd / "hal9-data").is_dir()


def test_promtool_check_metrics_accepts_a_real_scrape(start_server: StartServer) -> None:
    """`promtool check metrics` reads a scrape taken after real work and reports nothing."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed, and CI requires it")
        pytest.skip("promtool is not installed")
    server = start_server(CONFIG)
    with httpx.Client(base_url=server.url, timeout=15) as client:
        for content in REQUESTS[:2]:
            assert client.post("/api/v1/signals", json={"content": content, "wait": True}).status_code == 200
        assert client.get("/api/v1/signals/unknown").status_code == 404
        assert client.post("/api/v1/signals", json={}).status_code == 422
        text = client.get("/metrics").text

    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )

    # The one complaint the contract accepts: the seed names the gauge hal9_memory_entries_total.
    complaints = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
    assert complaints == ['hal9_memory_entries_total non-counter metrics should not have "_total" suffix']
    assert server.stop() == 0
