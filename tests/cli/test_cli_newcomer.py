"""What a newcomer meets first: the start-up summary, the whole contract in the default, clear refusals.

Real ``python -m hal9`` subprocesses on 127.0.0.1, each in a temporary folder.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest

from tests.cli.helpers import AUTH_ON, KEY, StartServer, clean_env, contract, poll_sample, run_cli, samples
from tests.monitoring.assets import SECTIONS

pytestmark = pytest.mark.slow

NETWORK_SECTION = "Network Metrics (Distributed Mode)"
SINGLE_SERVER_SECTIONS = tuple(section for section in SECTIONS if section != NETWORK_SECTION)


# -- the start-up summary ---------------------------------------------------------------------


def test_serve_logs_a_summary_of_what_it_runs_before_listening(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server('server_id = "summary"\n')
    summary = server.wait_logged("server.summary")
    assert summary["url"] == server.url
    assert summary["data_dir"].startswith(str((tmp_path / "hal9-data").resolve()) + " ")
    assert summary["llm"].startswith("mock: ")
    assert "no ANTHROPIC_API_KEY" in summary["llm"]
    assert "priced" in summary["llm"]
    assert (
        summary["models"]
        == "L4 claude-opus-5-5, L3 claude-sonnet-5-5, L2 claude-haiku-4-5, other calls claude-sonnet-5-5"
    )
    assert summary["budgets"].startswith("$5/hour, $50/day, $500/month")
    assert summary["auth"].startswith("off")
    assert summary["tools"].startswith("none granted")
    assert summary["network"].startswith("none")
    events = [event["event"] for event in server.events]
    assert events.index("server.summary") < events.index("server.listening")
    assert server.stop() == 0


def test_the_summary_says_the_real_api_answers_when_an_api_key_is_set(start_server: StartServer) -> None:
    # Nothing is sent at start: the key is only read.
    server = start_server("", env={"ANTHROPIC_API_KEY": "sk-ant-test-not-a-key"})
    summary = server.wait_logged("server.summary")
    assert summary["llm"].startswith("real: the Claude API, billed to your account")
    assert "ANTHROPIC_API_KEY found" in summary["llm"]
    assert "sk-ant-test" not in "".join(server.lines)
    assert server.stop() == 0


# -- the whole contract in the embedded default -------------------------------------------------


def test_the_embedded_default_shows_every_single_server_family_after_one_request(
    start_server: StartServer,
) -> None:
    """Defaults (auth on, the mock LLM): after one request a scrape has 37 of the 37 single-server families."""
    single_server = contract(*SINGLE_SERVER_SECTIONS)
    assert len(single_server) == 37
    assert len(contract(NETWORK_SECTION)) == 3
    server = start_server("", env=AUTH_ON)
    (key,) = KEY.findall(server.stderr())
    response = httpx.post(
        f"{server.url}/api/v1/signals",
        json={"content": "Build a todo app", "wait": True},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 200, response.text

    scraped = samples(server.scrape())
    missing = [row.name for row in single_server if not scraped.get(row.parsed_name)]
    assert missing == []
    spent = {s.labels["model"]: s.value for s in scraped["hal9_claude_cost_dollars"]}
    assert spent["mock-claude"] > 0  # the mock priced its calls
    remaining = {s.labels["period"]: s.value for s in scraped["hal9_claude_budget_remaining_dollars"]}
    assert 0 < remaining["hour"] < 5.0
    assert scraped["hal9_claude_cost_rate_dollars_per_hour"][0].value == pytest.approx(spent["mock-claude"])
    assert server.stop() == 0


# -- clear refusals ------------------------------------------------------------------------------


def test_serve_on_a_busy_port_says_so_on_stderr_with_a_hint_and_exits_non_zero(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run_cli("serve", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_refuses_what_serve_refuses(tmp_path: Path) -> None:
    # Neither command binds: the address is only compared with the loopback rule.
    (tmp_path / "open.toml").write_text('[server]\nhost = "0.0.0.0"\n[auth]\nenabled = false\n')
    checked = run_cli("check", "open.toml", cwd=tmp_path)
    served = run_cli("serve", "--config", "open.toml", cwd=tmp_path)
    for result in (checked, served):
        assert result.returncode == 2
        assert "refusing to serve on 0.0.0.0 with authentication disabled" in result.stderr
    (tmp_path / "local.toml").write_text('[server]\nhost = "127.0.0.1"\n[auth]\nenabled = false\n')
    assert run_cli("check", "local.toml", cwd=tmp_path).returncode == 0


def test_a_wrong_neuron_kind_names_the_key_and_the_built_in_kinds(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[[neurons]]\nid = "a"\nlayer = "L4"\nkind = "strategc"\n')
    result = run_cli("check", "bad.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "neurons.0.kind" in result.stderr
    assert "'strategc'" in result.stderr
    assert "strategic, design, implementation" in result.stderr


# -- the data folder -----------------------------------------------------------------------------


def test_keys_list_where_no_server_ran_refuses_and_creates_nothing(tmp_path: Path) -> None:
    result = run_cli("keys", "list", cwd=tmp_path, env=AUTH_ON)
    assert result.returncode == 2
    assert f"no database at {(tmp_path / 'hal9-data' / 'hal9.db').resolve()}" in result.stderr
    assert "--data-dir" in result.stderr
    assert "HAL9_DATA_DIR" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "hal9-data").exists()
    for command in (("users", "list"), ("users", "disable", "alice"), ("keys", "revoke", "abc")):
        assert run_cli(*command, cwd=tmp_path, env=AUTH_ON).returncode == 2
    assert not (tmp_path / "hal9-data").exists()


def test_account_commands_name_the_database_and_find_it_by_data_dir_or_environment(tmp_path: Path) -> None:
    server_dir, elsewhere = tmp_path / "server", tmp_path / "elsewhere"
    server_dir.mkdir()
    elsewhere.mkdir()
    database = (server_dir / "hal9-data" / "hal9.db").resolve()
    created = run_cli("keys", "create", "--name", "ci", cwd=server_dir, env=AUTH_ON)
    assert created.returncode == 0, created.stderr
    assert f"database: {database} (new:" in created.stderr
    (key,) = KEY.findall(created.stdout)

    by_option = run_cli("keys", "--data-dir", str(server_dir / "hal9-data"), "list", cwd=elsewhere, env=AUTH_ON)
    by_environment = run_cli(
        "keys", "list", cwd=elsewhere, env={**AUTH_ON, "HAL9_DATA_DIR": str(server_dir / "hal9-data")}
    )
    for listed in (by_option, by_environment):
        assert listed.returncode == 0, listed.stderr
        assert f"database: {database}\n" in listed.stderr
        assert listed.stdout.split()[:2] == [key.split("_")[1], "ci"]
    assert not (elsewhere / "hal9-data").exists()


def test_a_closed_standard_output_ends_the_command_without_a_traceback(tmp_path: Path) -> None:
    """`hal9 keys list | disable alice`: the reader is gone before the command writes."""
    for index in range(3):
        assert run_cli("keys", "create", "--name", f"k{index}", cwd=tmp_path, env=AUTH_ON).returncode == 0
    reader, writer = socket.socketpair()  # any pipe whose reading end closes first
    process = subprocess.Popen(
        [sys.executable, "-m", "hal9", "keys", "list"],
        cwd=tmp_path,
        env=clean_env(AUTH_ON),
        stdout=writer.fileno(),
        stderr=subprocess.PIPE,
        text=True,
    )
    writer.close()
    reader.close()  # no one reads any more: the command's first write fails with EPIPE
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr


# -- the second signal ---------------------------------------------------------------------------

#: Requests that take long (three LLM calls of 3 s in a row) and a drain that would wait for them.
SLOW = """
server_id = "forced"

[llm.mock]
latency_seconds = 3.0

[runtime]
drain_timeout = 60.0
"""


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("first", "second"),
    [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)],
    ids=["SIGINT-SIGINT", "SIGTERM-SIGTERM", "SIGTERM-SIGINT"],
)
async def test_a_second_signal_during_the_drain_fails_the_requests_and_exits_at_once(
    start_server: StartServer, first: int, second: int
) -> None:
    server = start_server(SLOW)
    responses: list[httpx.Response] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def ask(index: int) -> None:
            responses.append(await client.post("/api/v1/signals", json={"content": f"Request {index}", "wait": True}))

        async with anyio.create_task_group() as tasks:
            for index in range(2):
                tasks.start_soon(ask, index)
            await poll_sample(client, "hal9_server_connections_active", lambda v: (v or 0) >= 3, server_id="forced")
            server.proc.send_signal(first)
            await anyio.to_thread.run_sync(server.wait_logged, "Shutting down")
            started = time.monotonic()
            server.proc.send_signal(second)

    code = await anyio.to_thread.run_sync(server.wait)
    assert code == 128 + second
    assert time.monotonic() - started < 10  # not the 60 s drain, nor the 9 s of work left
    assert [r.status_code for r in responses] == [503, 503], [r.text for r in responses]
    for response in responses:
        body = response.json()
        assert body["status"] == "failed"
        assert [e["error"] for e in body["errors"]] == ["RuntimeNotRunning"]
    assert server.logged("server.forced_stop")
    assert server.logged("runtime.aborted")
    assert "Traceback" not in server.stderr()


def test_a_second_signal_while_the_runtime_drains_accepted_requests_exits_at_once(
    start_server: StartServer,
) -> None:
    """wait=false requests keep the runtime draining after the HTTP server has stopped: a second SIGTERM ends it."""
    server = start_server(SLOW)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        ids = [client.post("/api/v1/signals", json={"content": f"Request {i}"}).json()["id"] for i in range(2)]
    assert len(ids) == 2
    server.proc.send_signal(signal.SIGTERM)
    draining = server.wait_logged("server.draining")
    assert draining["active_requests"] == 2
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait() == 128 + signal.SIGTERM
    assert time.monotonic() - started < 10
    [aborted] = server.logged("runtime.aborted")
    assert aborted["active_traces"] == 2
    assert not server.logged("runtime.drain_timeout")
