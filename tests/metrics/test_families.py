"""The metric families match the contract in ``metrics-contract.tsv``: names, types, labels, buckets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from hal9 import Runtime
from hal9.metrics import API_BUCKETS, MEMORY_BUCKETS, SIGNAL_BUCKETS
from hal9.metrics import families as fam
from tests.contract import CONTRACT
from tests.support import config

#: The Neuron and System families a Runtime registers itself (the server registers the HTTP,
#: connection and WebSocket ones).
RUNTIME_FAMILIES = (
    "hal9_server_uptime_seconds",
    "hal9_server_memory_bytes",
    "hal9_neuron_health",
    "hal9_neuron_state",
    "hal9_neuron_queue_size",
    "hal9_signals_processed_total",
    "hal9_signal_processing_duration_seconds",
    "hal9_signals_forwarded_total",
)
#: What the default LLM service (the mock) registers: it prices its calls, so the spend families too.
MOCK_LLM_FAMILIES = (
    "hal9_claude_api_calls_total",
    "hal9_claude_api_duration_seconds",
    "hal9_claude_tokens_used_total",
    "hal9_claude_cost_dollars_total",
    "hal9_claude_cost_rate_dollars_per_hour",
    "hal9_claude_budget_remaining_dollars",
)


@dataclass(frozen=True)
class Contracted:
    name: str
    type: str
    labels: tuple[str, ...]
    values: dict[str, tuple[str, ...]]
    buckets: tuple[float, ...] | None


@cache
def contract_text() -> str:
    return CONTRACT.read_text(encoding="utf-8")


@cache
def bucket_sets() -> dict[str, tuple[float, ...]]:
    """``api = 0.01,0.05,...; signal = ...`` from the contract's header comment."""
    (line,) = [line for line in contract_text().splitlines() if line.startswith("# Bucket sets")]
    sets = line.split(":", 1)[1]
    return {
        name.strip(): tuple(float(bound) for bound in bounds.split(","))
        for name, bounds in (item.split("=") for item in sets.split(";"))
    }


@cache
def contract() -> dict[str, Contracted]:
    rows = [line.split("\t") for line in contract_text().splitlines() if line and not line.startswith("#")]
    header, *body = rows
    assert header == ["name", "type", "labels", "values", "buckets", "section"]
    families = {}
    for name, kind, labels, values, buckets, _section in body:
        fixed = {}
        if values != "-":
            for item in values.split(";"):
                label, allowed = item.split("=")
                fixed[label] = tuple(allowed.split("|"))
        families[name] = Contracted(
            name=name,
            type=kind,
            labels=() if labels == "-" else tuple(labels.split(",")),
            values=fixed,
            buckets=None if buckets == "-" else bucket_sets()[buckets],
        )
    return families


def defined_families() -> list[fam.Family]:
    return [value for value in vars(fam).values() if isinstance(value, fam.Family)]


def exposed_name(family: fam.Family) -> str:
    """The name a scrape shows: prometheus_client appends ``_total`` to counters."""
    entry = contract().get(family.name)
    return family.name if entry is not None else family.name + "_total"


# -- the table in hal9/metrics/families.py ---------------------------------------------------


def test_contract_is_read_whole() -> None:
    rows = [line for line in contract_text().splitlines() if line.startswith("hal9_")]
    assert len(contract()) == len(rows) >= 40  # one family a row, no name twice
    assert {c.type for c in contract().values()} == {"counter", "gauge", "histogram"}
    assert all(c.name.endswith("_total") for c in contract().values() if c.type == "counter")


def test_bucket_sets_are_exactly_the_contracts() -> None:
    assert bucket_sets() == {"api": API_BUCKETS, "signal": SIGNAL_BUCKETS, "memory": MEMORY_BUCKETS}


@pytest.mark.parametrize("family", defined_families(), ids=lambda f: f.name)
def test_family_in_the_contract_has_its_exact_name_and_label_names(family: fam.Family) -> None:
    assert family.name.startswith("hal9_")
    assert not family.name.endswith("_total"), "counters are named without _total; prometheus_client adds it"
    as_is, as_counter = contract().get(family.name), contract().get(family.name + "_total")
    if as_is is None and as_counter is None:
        assert family.name.startswith("hal9_service_"), f"{family.name} is neither in the contract nor an extension"
        return
    if as_is is not None:
        assert as_is.type != "counter"
        assert family.labels == as_is.labels
    else:
        assert as_counter is not None
        assert as_counter.type == "counter"
        assert family.labels == as_counter.labels


def test_every_runtime_family_of_the_contract_is_defined() -> None:
    names = {exposed_name(f) for f in defined_families()}
    assert set(RUNTIME_FAMILIES + MOCK_LLM_FAMILIES) <= names
    assert set(RUNTIME_FAMILIES + MOCK_LLM_FAMILIES) <= set(contract())


# -- what a runtime actually registers, after real work ----------------------------------------


async def worked_runtime() -> Runtime:
    async with Runtime(config()) as rt:
        assert (await rt.ask("Build a todo app with users, tags, reminders and sharing")).ok
        assert (await rt.ask("Build a todo app")).ok
    return rt


def assert_matches_contract(name: str, metric: Metric) -> None:
    """``metric`` (collected after real work) has the contract's type, labels, fixed values and buckets."""
    expected = contract()[name]
    assert metric.type == expected.type, name
    samples = [s for s in metric.samples if not s.name.endswith("_created")]
    assert samples, f"{name} has no series after real work"
    for s in samples:
        assert tuple(label for label in s.labels if label != "le") == expected.labels
        for label, allowed in expected.values.items():
            assert s.labels[label] in allowed
    if expected.buckets is not None:
        bounds = sorted({float(s.labels["le"]) for s in samples if s.name.endswith("_bucket")})
        assert bounds == [*expected.buckets, float("inf")]


def collected(rt: Runtime) -> dict[str, Metric]:
    """Families by the name the contract uses (counters with ``_total``)."""
    families = {}
    for metric in rt.metrics.registry.collect():
        name = metric.name + "_total" if metric.type == "counter" else metric.name
        families[name] = metric
    return families


@pytest.mark.anyio
async def test_runtime_registers_exactly_its_families_and_the_mock_llms() -> None:
    rt = await worked_runtime()
    assert set(collected(rt)) == set(RUNTIME_FAMILIES + MOCK_LLM_FAMILIES)


@pytest.mark.anyio
@pytest.mark.parametrize("name", RUNTIME_FAMILIES + MOCK_LLM_FAMILIES)
async def test_registered_family_has_the_contracts_type_labels_and_buckets(name: str) -> None:
    rt = await worked_runtime()
    assert_matches_contract(name, collected(rt)[name])


@pytest.mark.anyio
@pytest.mark.parametrize("name", RUNTIME_FAMILIES)
async def test_runtime_family_shows_every_fixed_label_value_of_the_contract(name: str) -> None:
    """Series for each listed value exist (at zero if nothing happened), e.g. status="error"."""
    rt = await worked_runtime()
    samples = collected(rt)[name].samples
    for label, allowed in contract()[name].values.items():
        assert {s.labels[label] for s in samples} == set(allowed)


@pytest.mark.anyio
async def test_scrape_parses_and_has_no_created_series() -> None:
    rt = await worked_runtime()
    text = rt.metrics.render().decode()
    parsed = {family.name: family for family in text_string_to_metric_families(text)}
    for name in RUNTIME_FAMILIES + MOCK_LLM_FAMILIES:
        assert re.sub("_total$", "", name) in parsed
    assert "_created" not in text
    processed = parsed["hal9_signals_processed"]
    values = {(s.labels["neuron_id"], s.labels["status"]): s.value for s in processed.samples}
    assert values[("strategic", "success")] == 2
    assert values[("design", "success")] == 5
    assert values[("implementation", "error")] == 0
