"""Static checks of the rules and dashboards: contract names only, full coverage, valid Grafana JSON."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.monitoring.assets import (
    CONTRACT,
    DASHBOARD_TITLES,
    JOB_MATCHER,
    Rule,
    dashboard_queries,
    dashboards,
    families_read,
    family_of,
    load_yaml,
    metric_names,
    panels,
    recording_names,
    rules,
)

REPO = Path(__file__).resolve().parents[2]
#: Prometheus' convention for recording rule names: level:metric:operations.
RECORDING_NAME = re.compile(r"^[a-z_]+:hal9_[a-z0-9_]+:[a-z0-9_]+$")
RATIO = re.compile(r"[:_]ratio|\s/\s")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def known(name: str) -> bool:
    return name == "up" or name in recording_names() or family_of(name) is not None


def test_metric_name_extraction_finds_series_and_ignores_labels_functions_and_strings() -> None:
    """The PromQL scanner the checks below rely on reads metric names only."""
    expr = (
        'sum by (job, le) (rate(hal9_x_bucket{status=~"5..", job="up"}[$__rate_interval])) '
        "/ on (job) group_left () job:hal9_y:rate5m > 1e9 and bool up"
    )
    assert metric_names(expr) == {"hal9_x_bucket", "job:hal9_y:rate5m", "up"}


def test_contract_has_forty_families() -> None:
    """The contract is read in full: 40 families across the eight sections."""
    assert len(CONTRACT) == 40


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r.name)
def test_rule_reads_only_contract_metrics_and_our_recording_rules(rule: Rule) -> None:
    """Each rule expression names only contract series (suffixes mapped back), our recording rules or `up`."""
    names = metric_names(rule.expr)
    assert names, "no metric found in the expression"
    assert {n for n in names if not known(n)} == set()


def test_dashboard_queries_read_only_contract_metrics_and_our_recording_rules() -> None:
    """Every dashboard target names only contract series, our recording rules or `up`."""
    unknown = [(board, panel, name) for board, panel, expr in dashboard_queries() for name in metric_names(expr)]
    assert [item for item in unknown if not known(item[2])] == []


def test_every_contract_family_appears_in_a_dashboard() -> None:
    """All 40 families of the contract are shown on at least one dashboard."""
    shown: set[str] = set()
    for _, _, expr in dashboard_queries():
        shown |= families_read(expr)
    assert set(CONTRACT) - shown == set()


def test_every_recording_rule_is_used_and_named_by_convention() -> None:
    """Recording rules are named level:metric:operations and each is read by a dashboard or an alert."""
    used: set[str] = set()
    for _, _, expr in dashboard_queries():
        used |= metric_names(expr)
    for rule in rules():
        if rule.kind == "alert":
            used |= metric_names(rule.expr)
    for name in recording_names():
        assert RECORDING_NAME.match(name), name
        assert name in used, f"{name} is read by no dashboard and no alert"


def test_alerts_have_severity_summary_and_description() -> None:
    """Each alert has labels.severity critical or warning and the annotations summary and description."""
    alerts = [rule for rule in rules() if rule.kind == "alert"]
    assert len({rule.name for rule in alerts}) == len(alerts)
    for rule in alerts:
        assert rule.body["labels"]["severity"] in {"critical", "warning"}, rule.name
        assert rule.body["annotations"]["summary"].strip(), rule.name
        assert rule.body["annotations"]["description"].strip(), rule.name


def test_the_seed_alerts_and_the_operator_alerts_exist() -> None:
    """The seed's six alerts and the five an operator expects are all there, with the seed's severities."""
    severities = {rule.name: rule.body["labels"]["severity"] for rule in rules() if rule.kind == "alert"}
    assert severities == {
        "Hal9ServerDown": "critical",
        "Hal9HighErrorRate": "critical",
        "Hal9ClaudeBudgetExceeded": "critical",
        "Hal9NeuronUnhealthy": "critical",
        "Hal9HighSignalLatency": "warning",
        "Hal9MemoryPressure": "warning",
        "Hal9LearningDegradation": "warning",
        "Hal9MailboxNearlyFull": "warning",
        "Hal9ClaudeBudgetLow": "warning",
        "Hal9SecurityViolation": "warning",
        "Hal9PeerLost": "warning",
    }


def test_prometheus_yml_has_the_seed_scrape_job_and_loads_the_rules() -> None:
    """prometheus.yml scrapes job hal9 at /metrics every 15 s on localhost:8080 and loads both rule files."""
    config = load_yaml("prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "hal9"
    assert job["metrics_path"] == "/metrics"
    assert job["scrape_interval"] == "15s"
    assert job["static_configs"] == [{"targets": ["localhost:8080"]}]
    assert sorted(config["rule_files"]) == ["rules/alerts.yml", "rules/recording.yml"]
    text = (REPO / "hal9" / "monitoring" / "prometheus.yml").read_text(encoding="utf-8")
    assert "#   type: Bearer" in text  # the protected-/metrics option, shown commented


def test_the_five_seed_dashboards_exist() -> None:
    """One dashboard per seed title, each with a unique uid."""
    boards = dashboards()
    assert {board["title"].removeprefix("HAL9 / ") for board in boards.values()} == DASHBOARD_TITLES
    assert len({board["uid"] for board in boards.values()}) == len(boards)


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_dashboard_has_datasource_variable_unique_ids_units_and_no_hardcoded_uid(name: str) -> None:
    """A `datasource` variable of type prometheus, unique panel ids, units set, every target on ${datasource}."""
    board = dashboards()[name]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["datasource"] == DATASOURCE
    assert variables["job"]["query"]["query"] == "label_values(hal9_server_uptime_seconds, job)"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            expr = target["expr"]
            for name in metric_names(expr):  # every selector is scoped to the job variable
                selectors = re.findall(rf"(?<![\w:]){re.escape(name)}(?![\w:])(\{{[^}}]*\}})?", expr)
                assert all(sel.startswith("{" + JOB_MATCHER) for sel in selectors), (panel["title"], expr)
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_neuron_dashboard_has_a_latency_heatmap_and_a_health_matrix() -> None:
    """Neuron Performance: a heatmap of the processing duration buckets and a per-neuron health timeline."""
    board = dashboards()["hal9-neuron-performance.json"]
    by_type: dict[str, list[str]] = {}
    for panel in panels(board):
        by_type.setdefault(panel["type"], []).extend(t["expr"] for t in panel.get("targets", []))
    assert any("hal9_signal_processing_duration_seconds_bucket" in e for e in by_type["heatmap"])
    (heatmap,) = (panel for panel in panels(board) if panel["type"] == "heatmap")
    assert heatmap["options"]["yAxis"]["unit"] == "s"
    assert heatmap["options"]["calculate"] is False  # Prometheus already gives the buckets
    assert {target["format"] for target in heatmap["targets"]} == {"heatmap"}
    assert by_type["state-timeline"] == [f"hal9_neuron_health{{{JOB_MATCHER}}}"]


def test_units_fit_the_metrics() -> None:
    """Panels on durations are in seconds, on bytes in bytes, on dollars in USD, on ratios in percentunit."""
    for board in dashboards().values():
        for panel in panels(board):
            if panel["type"] in ("row", "table", "heatmap", "piechart", "bargauge"):
                continue
            exprs = " ".join(t["expr"] for t in panel["targets"])
            unit = panel["fieldConfig"]["defaults"]["unit"]
            if "histogram_quantile" in exprs or exprs.endswith("_seconds") or "p95_rate5m" in exprs:
                assert unit == "s", panel["title"]
            elif "_bytes" in exprs:
                assert unit == "bytes", panel["title"]
            elif RATIO.search(exprs):
                assert unit == "percentunit", panel["title"]
            elif "dollars" in exprs:
                assert unit == "currencyUSD", panel["title"]


def test_committed_dashboards_match_their_generator() -> None:
    """scripts/build_dashboards.py --check: the JSON files are what the generator writes."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards_folder() -> None:
    """The datasource is a prometheus one at http://prometheus:9090; the provider reads a dashboards folder."""
    (datasource,) = load_yaml("grafana", "provisioning", "datasources", "hal9.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml("grafana", "provisioning", "dashboards", "hal9.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
