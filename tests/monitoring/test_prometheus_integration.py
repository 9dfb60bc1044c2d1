"""A real Prometheus scrapes a real `python -m hal9 serve`; every dashboard query and rule runs against it."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.cli.helpers import ServerProcess, clean_env, run_cli, samples
from tests.monitoring.assets import (
    CONTRACT,
    dashboard_queries,
    families_read,
    require_tool,
    rules,
    substitute,
)

pytestmark = pytest.mark.slow

#: How long Prometheus gets to start, scrape and evaluate (its first scrape can take ~5 s).
DEADLINE = 30.0
REQUESTS = ["Build a todo app", "Write a haiku", "Plan a trip to the mountains next summer with friends"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prometheus:
    """`prometheus` on 127.0.0.1 with a throw-away TSDB; stopped (then killed) at teardown."""

    def __init__(self, binary: str, config: Path, data: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
        self.logfile = log

    def output(self) -> str:
        self._log.flush()
        return self.logfile.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def query(self, client: httpx.Client, expr: str) -> dict[str, Any]:
        """The JSON answer of an instant query (status "success" or "error")."""
        response = client.get(f"{self.url}/api/v1/query", params={"query": expr})
        body: dict[str, Any] = response.json()
        return body

    def wait_for(self, client: httpx.Client, expr: str, what: str) -> list[dict[str, Any]]:
        """Poll an instant query until it returns data (or fail with the log at the deadline)."""
        deadline = time.monotonic() + DEADLINE
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode}:\n{self.output()}")
            try:
                body = self.query(client, expr)
            except (httpx.TransportError, ValueError) as exc:  # not listening, or 503 while it starts
                last = exc
            else:
                last = body
                if body.get("status") == "success" and body["data"]["result"]:
                    result: list[dict[str, Any]] = body["data"]["result"]
                    return result
            time.sleep(0.25)
        pytest.fail(f"{what}: no data for {expr!r} within {DEADLINE}s (last answer {last}):\n{self.output()}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[ServerProcess, Prometheus]]:
    """A hal9 server and a Prometheus scraping it every second with the exported rules loaded."""
    binary = require_tool("prometheus")  # before anything is started or opened
    config = tmp_path / "hal9.toml"
    config.write_text('server_id = "monitoring-test"\n', encoding="utf-8")
    server = ServerProcess(tmp_path, config)
    prometheus: Prometheus | None = None
    try:
        server.wait_listening()
        exported = run_cli("monitoring", "export", "assets", cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        prometheus_yml = tmp_path / "assets" / "prometheus" / "prometheus.yml"
        document = yaml.safe_load(prometheus_yml.read_text(encoding="utf-8"))
        document["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        (job,) = document["scrape_configs"]
        job["scrape_interval"] = "1s"
        job["static_configs"] = [{"targets": [f"127.0.0.1:{server.port}"]}]
        prometheus_yml.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        prometheus = Prometheus(binary, prometheus_yml, tmp_path / "tsdb", tmp_path / "prometheus.log")
        yield server, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        server.kill()


def test_dashboards_and_rules_run_on_real_prometheus_scraping_a_real_server(
    stack: tuple[ServerProcess, Prometheus],
) -> None:
    """Every dashboard query and rule runs without error on Prometheus; those on exposed families have data."""
    server, prometheus = stack
    with httpx.Client(timeout=15) as client:
        up = prometheus.wait_for(client, 'up{job="hal9"} == 1', "first scrape")
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{server.port}"

        # The demo workload, after the first scrape so the rates have a before and an after.
        for content in REQUESTS:
            response = client.post(f"{server.url}/api/v1/signals", json={"content": content, "wait": True})
            assert response.status_code == 200, response.text
        assert client.get(f"{server.url}/api/v1/neurons").status_code == 200
        assert client.get(f"{server.url}/no-such-route").status_code == 404

        scrape = server.scrape()
        processed = sum(s.value for s in samples(scrape)["hal9_signals_processed"] if s.name.endswith("_total"))
        prometheus.wait_for(
            client, f'sum(hal9_signals_processed_total{{job="hal9"}}) >= {processed}', "the workload scraped"
        )
        prometheus.wait_for(client, "sum(job:hal9_http_requests:rate5m) > 0", "recording rules evaluated")

        # Families with samples in the server's own scrape (one announced without samples yet has no data to show).
        by_family = samples(scrape)
        exposed = {name for name, row in CONTRACT.items() if by_family.get(row.parsed_name)}
        # What this branch's server feeds: system, neurons and the mock LLM's calls and tokens.
        assert {
            "hal9_http_requests_total",
            "hal9_neuron_health",
            "hal9_signal_processing_duration_seconds",
            "hal9_claude_api_calls_total",
            "hal9_claude_tokens_used_total",
        } <= exposed

        # The job variable's query (label_values over this metric) finds the job.
        (job,) = prometheus.query(client, "count by (job) (hal9_server_uptime_seconds)")["data"]["result"]
        assert job["metric"]["job"] == "hal9"

        queries = [(f"{board} / {panel}", expr, True) for board, panel, expr in dashboard_queries()]
        queries += [(f"rule {rule.name}", rule.expr, rule.kind == "record") for rule in rules()]
        errors, empty, checked = [], [], 0
        for where, expr, must_have_data in queries:
            body = prometheus.query(client, substitute(expr))
            if body.get("status") != "success":
                errors.append((where, expr, body.get("error")))
                continue
            families = families_read(expr)
            if must_have_data and families and families <= exposed:
                checked += 1
                if not body["data"]["result"]:
                    empty.append((where, expr))
        assert errors == []
        assert empty == []
        assert checked >= 25  # most panels are on features the demo exercises

        # The panels show the work, not just zeros.
        (signals,) = prometheus.query(client, "sum(increase(hal9_signals_processed_total[1m]))")["data"]["result"]
        assert float(signals["value"][1]) > 0
        tokens = prometheus.query(client, 'sum(hal9_claude_tokens_used_total{type="prompt"})')["data"]["result"]
        assert float(tokens[0]["value"][1]) > 0
        # Prometheus loaded every rule and has evaluated each without error; no alert fires on a healthy server.
        deadline = time.monotonic() + DEADLINE
        while True:
            loaded = [
                r for g in client.get(f"{prometheus.url}/api/v1/rules").json()["data"]["groups"] for r in g["rules"]
            ]
            assert len(loaded) == len(rules())
            health = {r["name"]: (r["health"], r.get("lastError", "")) for r in loaded}
            if all(state == "ok" for state, _ in health.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert {name: state for name, state in health.items() if state[0] != "ok"} == {}
        assert client.get(f"{prometheus.url}/api/v1/alerts").json()["data"]["alerts"] == []
