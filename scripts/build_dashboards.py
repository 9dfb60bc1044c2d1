#!/usr/bin/env python3
"""Writes the five Grafana dashboards of ``hal9/monitoring/grafana/dashboards`` from the tables below.

The JSON files are package data and committed; this script is their source. Run it after
changing a panel (``python scripts/build_dashboards.py``); ``--check`` exits 1 when a
committed file differs from what it would write (a test runs that).

Every panel and target reads the ``${datasource}`` variable (type prometheus), so no
datasource uid is hard-coded; panel ids are assigned in order, so they are unique. Every
series selector is scoped to the ``$job`` variable (the Prometheus jobs that scrape HAL9),
added here so the tables below stay readable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "hal9" / "monitoring" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
#: A series selector: one of our metrics (or a recording rule on one) or ``up``, with its matchers if any.
SELECTOR = re.compile(r"(?<![\w:])((?:[a-z_]+:)?hal9_[a-z0-9_]+(?::[a-z0-9_]+)?|up)(\{[^}]*\})?(?![\w:(])")
JOB = 'job=~"$job"'


def scoped(expr: str) -> str:
    """``expr`` with ``job=~"$job"`` as the first matcher of every selector."""

    def add(match: re.Match[str]) -> str:
        name, matchers = match.group(1), (match.group(2) or "{}")[1:-1].strip()
        return f"{name}{{{', '.join([JOB, matchers] if matchers else [JOB])}}}"

    return SELECTOR.sub(add, expr)


@dataclass
class Q:
    """One PromQL target."""

    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"


@dataclass
class P:
    """One panel: its kind, size (grid units of 24 per row) and queries."""

    title: str
    kind: str
    queries: list[Q]
    unit: str = "short"
    w: int = 12
    h: int = 8
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    title: str


def ts(title: str, *queries: Q, unit: str = "short", w: int = 12, description: str = "", **defaults: Any) -> P:
    return P(title, "timeseries", list(queries), unit, w, 8, description, defaults=defaults)


def stat(title: str, *queries: Q, unit: str = "short", w: int = 4, description: str = "", **defaults: Any) -> P:
    return P(title, "stat", list(queries), unit, w, 4, description, defaults=defaults)


def _panel_json(panel: P, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = []
    for i, q in enumerate(panel.queries):
        target: dict[str, Any] = {
            "datasource": DATASOURCE,
            "refId": chr(ord("A") + i),
            "expr": scoped(q.expr),
            "legendFormat": q.legend or "__auto",
            "range": not q.instant,
            "instant": q.instant,
            "format": q.format,
        }
        targets.append(target)
    defaults: dict[str, Any] = {"unit": panel.unit, **panel.defaults}
    result: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.h, "w": panel.w, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
        "targets": targets,
    }
    if panel.kind == "timeseries":
        result["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    elif panel.kind == "stat":
        result["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    result.update(panel.extra)
    return result


def dashboard(uid: str, title: str, description: str, items: list[P | Row]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    x = y = row_h = 0
    for number, item in enumerate(items, start=1):
        if isinstance(item, Row):
            if x:
                y += row_h
            x = row_h = 0
            panels.append(
                {
                    "id": number,
                    "type": "row",
                    "title": item.title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                    "panels": [],
                }
            )
            y += 1
            continue
        if x + item.w > 24:
            y += row_h
            x = row_h = 0
        panels.append(_panel_json(item, number, x, y))
        x += item.w
        row_h = max(row_h, item.h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["hal9"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["hal9"], "asDropdown": True, "title": "HAL9 dashboards"}],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "multi": False,
                    "options": [],
                    "refresh": 1,
                    "regex": "",
                },
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "definition": "label_values(hal9_server_uptime_seconds, job)",
                    "query": {"query": "label_values(hal9_server_uptime_seconds, job)", "refId": "job"},
                    "current": {},
                    "hide": 0,
                    "includeAll": True,
                    "multi": True,
                    "options": [],
                    "refresh": 2,
                    "regex": "",
                    "sort": 1,
                },
            ]
        },
        "panels": panels,
    }


def _thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


HEALTH_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "unhealthy", "color": "red", "index": 0},
            "1": {"text": "healthy", "color": "green", "index": 1},
        },
    }
]


def system_overview() -> dict[str, Any]:
    return dashboard(
        "hal9-system-overview",
        "HAL9 / System Overview",
        "Server health, HTTP request rate, latency and errors, connections and process memory.",
        [
            Row("Health"),
            stat(
                "Servers up",
                Q("sum(up)"),
                description="Targets of the selected jobs that answered their last scrape.",
                thresholds=_thresholds(("red", None), ("green", 1)),
                color={"mode": "thresholds"},
            ),
            stat("Uptime", Q("min(hal9_server_uptime_seconds)"), unit="s"),
            stat("Request rate", Q("sum(job:hal9_http_requests:rate5m)"), unit="reqps"),
            stat(
                "5xx ratio",
                Q("max(job:hal9_http_request_errors_per_requests:ratio_rate5m)"),
                unit="percentunit",
                thresholds=_thresholds(("green", None), ("orange", 0.05), ("red", 0.1)),
                color={"mode": "thresholds"},
            ),
            stat("Open connections", Q("sum(hal9_server_connections_active)")),
            stat("WebSocket clients", Q("sum(hal9_websocket_connections_active)")),
            Row("HTTP API"),
            ts(
                "Request rate by endpoint and status",
                Q(f"sum by (endpoint, status) (rate(hal9_http_requests_total[{RATE}]))", "{{endpoint}} {{status}}"),
                unit="reqps",
            ),
            ts(
                "Request latency by endpoint",
                Q(
                    "histogram_quantile(0.5, sum by (endpoint, le) "
                    f"(rate(hal9_http_request_duration_seconds_bucket[{RATE}])))",
                    "p50 {{endpoint}}",
                ),
                Q(
                    "job_endpoint:hal9_http_request_duration_seconds:p95_rate5m",
                    "p95 {{endpoint}} (5m)",
                ),
                unit="s",
            ),
            ts(
                "Error ratio (5xx / all requests)",
                Q("job:hal9_http_request_errors_per_requests:ratio_rate5m", "{{job}}"),
                unit="percentunit",
                description="The alert Hal9HighErrorRate fires above 10% for 5 minutes.",
            ),
            ts(
                "Error responses by status",
                Q(
                    f'sum by (status, endpoint) (rate(hal9_http_requests_total{{status=~"[45].."}}[{RATE}]))',
                    "{{status}} {{endpoint}}",
                ),
                unit="reqps",
            ),
            Row("Connections and process"),
            ts(
                "Connections",
                Q("hal9_server_connections_active", "{{server_id}} HTTP + WebSocket"),
                Q("hal9_websocket_connections_active", "{{instance}} WebSocket"),
            ),
            ts("Process memory", Q("hal9_server_memory_bytes", "{{server_id}} {{type}}"), unit="bytes"),
            Row("Distributed mode"),
            stat("Connected servers", Q("sum(hal9_network_servers_connected)"), w=6),
            ts(
                "Network latency",
                Q("hal9_network_latency_seconds", "{{from_server}} → {{to_server}}"),
                unit="s",
                w=9,
            ),
            ts(
                "Network messages",
                Q(f"sum by (direction, type) (rate(hal9_network_messages_total[{RATE}]))", "{{direction}} {{type}}"),
                unit="ops",
                w=9,
            ),
        ],
    )


def neuron_performance() -> dict[str, Any]:
    return dashboard(
        "hal9-neuron-performance",
        "HAL9 / Neuron Performance",
        "Neuron health and state, signal rates and latency by layer, queues, and the memory system.",
        [
            Row("Health"),
            P(
                "Neuron health matrix",
                "state-timeline",
                [Q("hal9_neuron_health", "{{layer}} {{neuron_id}}")],
                w=16,
                description="1 while the neuron's actor loop runs; Hal9NeuronUnhealthy fires after 2 minutes at 0.",
                extra={"options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.9}},
                defaults={
                    "mappings": HEALTH_MAPPINGS,
                    "color": {"mode": "thresholds"},
                    "thresholds": _thresholds(("red", None), ("green", 1)),
                },
            ),
            P(
                "Current neuron state",
                "table",
                [Q("hal9_neuron_state == 1", instant=True, format="table")],
                w=8,
                extra={
                    "transformations": [
                        {
                            "id": "organize",
                            "options": {
                                "excludeByName": {
                                    "Time": True,
                                    "Value": True,
                                    "__name__": True,
                                    "job": True,
                                    "instance": True,
                                },
                                "indexByName": {"neuron_id": 0, "state": 1},
                            },
                        }
                    ]
                },
            ),
            Row("Signals"),
            ts(
                "Signals processed by layer",
                Q(f"sum by (layer, status) (rate(hal9_signals_processed_total[{RATE}]))", "{{layer}} {{status}}"),
                unit="ops",
            ),
            ts(
                "Signal error ratio by neuron",
                Q(
                    f'sum by (neuron_id) (rate(hal9_signals_processed_total{{status="error"}}[{RATE}]))'
                    f" / sum by (neuron_id) (rate(hal9_signals_processed_total[{RATE}]))",
                    "{{neuron_id}}",
                ),
                unit="percentunit",
            ),
            P(
                "Processing latency heatmap",
                "heatmap",
                [
                    Q(
                        f"sum by (le) (increase(hal9_signal_processing_duration_seconds_bucket[{RATE}]))",
                        "{{le}}",
                        format="heatmap",
                    )
                ],
                unit="short",  # the cells count signals; the y axis (options.yAxis) is in seconds
                description="Signals per latency bucket of a neuron's process(), all neurons.",
                extra={
                    "options": {
                        "calculate": False,
                        "yAxis": {"unit": "s"},
                        "cellGap": 1,
                        "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                        "rowsFrame": {"layout": "auto"},
                        "tooltip": {"show": True, "yHistogram": True},
                    }
                },
            ),
            ts(
                "Processing latency by layer",
                Q("job_layer:hal9_signal_processing_duration_seconds:p50_rate5m", "p50 {{layer}}"),
                Q("job_layer:hal9_signal_processing_duration_seconds:p95_rate5m", "p95 {{layer}}"),
                unit="s",
                description="From the recording rules (5 minute windows); Hal9HighSignalLatency fires when p95 > 5 s.",
            ),
            ts(
                "Signals forwarded",
                Q(
                    f"sum by (from_neuron, to_neuron) (rate(hal9_signals_forwarded_total[{RATE}]))",
                    "{{from_neuron}} → {{to_neuron}}",
                ),
                unit="ops",
            ),
            ts(
                "Queue depth",
                Q("hal9_neuron_queue_size", "{{neuron_id}}"),
                description="Signals waiting per mailbox (default capacity 64; Hal9MailboxNearlyFull above 48).",
                thresholds=_thresholds(("green", None), ("red", 48)),
                custom={"thresholdsStyle": {"mode": "line"}},
            ),
            Row("Memory system"),
            ts("Memory entries by neuron", Q("hal9_memory_entries_total", "{{neuron_id}}")),
            ts("Memory database size", Q("sum(hal9_memory_database_bytes)", "database"), unit="bytes"),
            ts(
                "Memory operations",
                Q(
                    f"sum by (operation, status) (rate(hal9_memory_operations_total[{RATE}]))",
                    "{{operation}} {{status}}",
                ),
                unit="ops",
                w=8,
            ),
            ts(
                "Memory operation latency p95",
                Q(
                    "histogram_quantile(0.95, sum by (operation, le) "
                    f"(rate(hal9_memory_operation_duration_seconds_bucket[{RATE}])))",
                    "{{operation}}",
                ),
                unit="s",
                w=8,
            ),
            ts(
                "Memory cache hit ratio",
                Q(
                    f"sum(rate(hal9_memory_cache_hits_total[{RATE}]))"
                    f" / (sum(rate(hal9_memory_cache_hits_total[{RATE}]))"
                    f" + sum(rate(hal9_memory_cache_misses_total[{RATE}])))",
                    "hit ratio",
                ),
                unit="percentunit",
                w=8,
            ),
        ],
    )


def claude_usage() -> dict[str, Any]:
    return dashboard(
        "hal9-claude-usage",
        "HAL9 / Claude Usage",
        "LLM call volume and latency, mock against real, tokens, cost and budget.",
        [
            Row("Now"),
            stat("LLM calls", Q(f"sum(rate(hal9_claude_api_calls_total[{RATE}]))"), unit="reqps"),
            stat("Spend, last 24 h", Q("sum(increase(hal9_claude_cost_dollars_total[24h]))"), unit="currencyUSD"),
            stat("Cost rate (per hour)", Q("sum(hal9_claude_cost_rate_dollars_per_hour)"), unit="currencyUSD"),
            stat(
                "Budget remaining",
                Q("hal9_claude_budget_remaining_dollars", "{{period}}"),
                unit="currencyUSD",
                w=8,
                thresholds=_thresholds(("red", None), ("green", 0)),
                color={"mode": "thresholds"},
            ),
            stat(
                "Day budget left (estimated)",
                Q("min(period:hal9_claude_budget_remaining:ratio)"),
                unit="percentunit",
                description="Remaining / (remaining + spend of the last 24 h); Hal9ClaudeBudgetLow fires below 20%.",
                thresholds=_thresholds(("red", None), ("orange", 0.2), ("green", 0.5)),
                color={"mode": "thresholds"},
            ),
            Row("Calls"),
            ts(
                "LLM calls by mode and status",
                Q(f"sum by (mode, status) (rate(hal9_claude_api_calls_total[{RATE}]))", "{{mode}} {{status}}"),
                unit="reqps",
            ),
            P(
                "Mock vs real calls",
                "piechart",
                [Q("sum by (mode) (increase(hal9_claude_api_calls_total[$__range]))", "{{mode}}", instant=True)],
                w=6,
                extra={
                    "options": {
                        "pieType": "donut",
                        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    }
                },
            ),
            ts(
                "LLM call latency p95",
                Q(
                    "histogram_quantile(0.95, sum by (mode, model, le) "
                    f"(rate(hal9_claude_api_duration_seconds_bucket[{RATE}])))",
                    "{{mode}} {{model}}",
                ),
                unit="s",
                w=6,
            ),
            Row("Tokens and cost"),
            ts(
                "Tokens by model and type (per second)",
                Q(f"sum by (model, type) (rate(hal9_claude_tokens_used_total[{RATE}]))", "{{model}} {{type}}"),
            ),
            ts(
                "Cost by model (per hour)",
                Q(f"sum by (model) (rate(hal9_claude_cost_dollars_total[{RATE}])) * 3600", "{{model}}"),
                unit="currencyUSD",
            ),
            ts(
                "Cost projections",
                Q("sum(hal9_claude_cost_rate_dollars_per_hour) * 24", "next 24 h at the current rate"),
                Q(
                    'predict_linear(hal9_claude_budget_remaining_dollars{period="day"}[1h], 6 * 3600)',
                    "day budget in 6 h (linear trend)",
                ),
                unit="currencyUSD",
                w=24,
            ),
        ],
    )


def learning_analytics() -> dict[str, Any]:
    return dashboard(
        "hal9-learning-analytics",
        "HAL9 / Learning Analytics",
        "Backward propagation: learning cycles, error gradients, prompt adjustments and patterns.",
        [
            Row("Cycles"),
            stat("Learning cycles in range", Q("sum(increase(hal9_learning_cycles_total[$__range]))"), w=6),
            stat(
                "Lowest effectiveness",
                Q("min(hal9_learning_effectiveness_ratio)"),
                unit="percentunit",
                w=6,
                thresholds=_thresholds(("red", None), ("green", 0.5)),
                color={"mode": "thresholds"},
            ),
            ts(
                "Learning cycles (per minute)",
                Q(f"sum(rate(hal9_learning_cycles_total[{RATE}])) * 60", "cycles"),
                unit="opm",
            ),
            ts(
                "Learning effectiveness by neuron",
                Q("hal9_learning_effectiveness_ratio", "{{neuron_id}}"),
                unit="percentunit",
                description="Hal9LearningDegradation fires below 50% for 30 minutes.",
                min=0,
                max=1,
            ),
            ts("Error gradient by neuron", Q("hal9_learning_error_gradient", "{{neuron_id}}")),
            Row("Prompt adjustments and patterns"),
            ts(
                "Prompt adjustment success rate",
                Q(
                    f'sum by (neuron_id) (rate(hal9_learning_adjustments_total{{type="success"}}[{RATE}]))'
                    f" / sum by (neuron_id) (rate(hal9_learning_adjustments_total[{RATE}]))",
                    "{{neuron_id}}",
                ),
                unit="percentunit",
            ),
            ts(
                "Prompt adjustments by outcome",
                Q(f"sum by (type) (rate(hal9_learning_adjustments_total[{RATE}]))", "{{type}}"),
                unit="ops",
            ),
            P(
                "Patterns identified in range",
                "bargauge",
                [
                    Q(
                        "sum by (pattern_type) (increase(hal9_learning_patterns_identified_total[$__range]))",
                        "{{pattern_type}}",
                        instant=True,
                    )
                ],
                extra={
                    "options": {
                        "orientation": "horizontal",
                        "displayMode": "gradient",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    }
                },
            ),
            ts(
                "Patterns identified (per second)",
                Q(
                    f"sum by (pattern_type) (rate(hal9_learning_patterns_identified_total[{RATE}]))",
                    "{{pattern_type}}",
                ),
                unit="ops",
            ),
        ],
    )


def security() -> dict[str, Any]:
    return dashboard(
        "hal9-security",
        "HAL9 / Security",
        "Authentication, API keys, MCP tool use and the security violations the sandbox refused.",
        [
            Row("Now"),
            stat("Active users", Q("sum(hal9_auth_users_active)"), w=6),
            stat("Active API keys", Q("sum(hal9_auth_api_keys_active)"), w=6),
            stat(
                "Failed logins in range",
                Q('sum(increase(hal9_auth_attempts_total{status="failure"}[$__range]))'),
                w=6,
            ),
            stat(
                "Security violations in range",
                Q("sum(increase(hal9_mcp_security_violations_total[$__range]))"),
                w=6,
                thresholds=_thresholds(("green", None), ("red", 1)),
                color={"mode": "thresholds"},
            ),
            Row("Authentication"),
            ts(
                "Authentication attempts",
                Q(f"sum by (type, status) (rate(hal9_auth_attempts_total[{RATE}]))", "{{type}} {{status}}"),
                unit="ops",
            ),
            ts(
                "Tokens issued",
                Q(f"sum by (type) (rate(hal9_auth_tokens_issued_total[{RATE}]))", "{{type}}"),
                unit="ops",
            ),
            ts(
                "API key usage by key",
                Q(f"sum by (key_id) (rate(hal9_auth_api_key_usage_total[{RATE}]))", "{{key_id}}"),
                unit="reqps",
            ),
            ts(
                "User activity timeline",
                Q("sum(hal9_auth_users_active)", "active users"),
                Q("sum(hal9_auth_api_keys_active)", "active API keys"),
            ),
            ts(
                "HTTP 4xx responses",
                Q(
                    f'sum by (status, endpoint) (rate(hal9_http_requests_total{{status=~"4.."}}[{RATE}]))',
                    "{{status}} {{endpoint}}",
                ),
                unit="reqps",
                w=24,
                description="Rejected requests: 401/403 are authentication failures, 404 probing, 413/422 bad input.",
            ),
            Row("MCP tools"),
            ts(
                "MCP tool invocations",
                Q(f"sum by (tool, status) (rate(hal9_mcp_tool_invocations_total[{RATE}]))", "{{tool}} {{status}}"),
                unit="ops",
                w=8,
            ),
            ts(
                "MCP tool latency p95",
                Q(
                    "histogram_quantile(0.95, sum by (tool, le) "
                    f"(rate(hal9_mcp_tool_duration_seconds_bucket[{RATE}])))",
                    "{{tool}}",
                ),
                unit="s",
                w=8,
            ),
            ts(
                "Security violations",
                Q(
                    f"sum by (tool, violation_type) (increase(hal9_mcp_security_violations_total[{RATE}]))",
                    "{{tool}} {{violation_type}}",
                ),
                w=8,
                description="Path traversal and forbidden commands the sandbox refused; Hal9SecurityViolation fires.",
                custom={"drawStyle": "bars"},
            ),
        ],
    )


DASHBOARDS = {
    "hal9-system-overview.json": system_overview,
    "hal9-neuron-performance.json": neuron_performance,
    "hal9-claude-usage.json": claude_usage,
    "hal9-learning-analytics.json": learning_analytics,
    "hal9-security.json": security,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed dashboard is out of date")
    args = parser.parse_args()
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run python scripts/build_dashboards.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
