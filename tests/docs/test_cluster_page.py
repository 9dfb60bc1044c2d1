"""The NATS commands and files of docs/cluster.md and docs/distributed.md run as written, with JetStream.

Each ``nats-server`` command of the pages' shell blocks runs in an empty folder (its store folder
is relative), on free ports of 127.0.0.1 in place of the pages' 4222-4224 and 6222-6224: a single
server must start with JetStream; the three of the NATS cluster must form one, in which a bucket
with three replicas takes a value. The page's ``nats.conf`` starts a server too, and its
``[network]`` block is a valid HAL9 configuration.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import anyio
import nats.errors
import pytest

from hal9 import Config
from hal9.cluster import ClusterState
from hal9.errors import NetworkUnavailable
from tests.docs.examples import FENCE, ROOT
from tests.network.nats_server import free_port, nats_server_binary

pytestmark = pytest.mark.slow

PAGES = (ROOT / "docs" / "cluster.md", ROOT / "docs" / "distributed.md")
#: The ports the pages use: clients on 4222-4224, routes between NATS servers on 6222-6224.
PAGE_PORTS = ("4222", "4223", "4224", "6222", "6223", "6224")
DEADLINE = 20.0


def blocks(page: Path, language: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [match.group(3) for match in FENCE.finditer(text) if match.group(2) == language]


def nats_commands() -> list[str]:
    """Every ``nats-server`` command of the pages' shell blocks, continuation lines joined."""
    commands = []
    for page in PAGES:
        for block in blocks(page, "sh"):
            for line in block.replace("\\\n", " ").splitlines():
                command = line.split("#", 1)[0].strip()
                if command.startswith("nats-server "):
                    commands.append(command)
    return commands


class Started:
    """A nats-server started from a page's command; its log, read until it says it is ready."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [nats_server_binary(), *args[1:]],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "Server is ready" in line:
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> None:
        assert self.ready.wait(DEADLINE), "".join(self.lines)
        assert self.proc.poll() is None, "nats-server exited:\n" + "".join(self.lines)
        assert any("Starting JetStream" in line for line in self.lines), "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(DEADLINE)
        self._reader.join(DEADLINE)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def started() -> Iterator[list[Started]]:
    servers: list[Started] = []
    yield servers
    for server in servers:
        server.stop()


def with_ports(text: str, ports: dict[str, str]) -> str:
    """``text`` with the page's ports replaced by the test's."""
    for page_port, port in ports.items():
        text = re.sub(rf"(?<![0-9]){page_port}(?![0-9])", port, text)
    return text


def on_free_ports(command: str, ports: dict[str, str]) -> list[str]:
    """The command's words with the page's ports replaced (every server listens on 127.0.0.1)."""
    args = shlex.split(with_ports(command, ports))
    assert "-a" in args, f"{command}: a documented server listens on one address (-a 127.0.0.1)"
    assert args[args.index("-a") + 1] == "127.0.0.1"
    return args


def test_the_pages_single_nats_servers_start_with_jetstream(tmp_path: Path, started: list[Started]) -> None:
    """docs/distributed.md's and docs/cluster.md's one-server commands: JetStream on, data in the folder named."""
    singles = [command for command in nats_commands() if "--routes" not in command]
    assert len(singles) >= 2  # one on each page
    for index, command in enumerate(singles):
        folder = tmp_path / str(index)
        folder.mkdir()
        server = Started(on_free_ports(command, {"4222": str(free_port())}), folder)
        started.append(server)
        server.wait_ready()
        assert (folder / "nats-data" / "jetstream").is_dir()


def test_the_pages_nats_conf_starts_a_server_with_jetstream(tmp_path: Path, started: list[Started]) -> None:
    """The nats.conf of docs/cluster.md, as written but for its port."""
    (conf,) = [block for block in blocks(PAGES[0], "text") if "jetstream {" in block]
    (tmp_path / "nats.conf").write_text(conf.replace("4222", str(free_port())), encoding="utf-8")
    server = Started(["nats-server", "-c", "nats.conf"], tmp_path)
    started.append(server)
    server.wait_ready()
    assert (tmp_path / "nats-data" / "jetstream").is_dir()


@pytest.mark.anyio
async def test_the_pages_nats_cluster_of_three_keeps_a_bucket_with_three_replicas(
    tmp_path: Path, started: list[Started]
) -> None:
    """The three commands of docs/cluster.md form one JetStream cluster; its [network] block with replicas = 3 works."""
    cluster = [command for command in nats_commands() if "--routes" in command]
    assert len(cluster) == 3
    ports = {page_port: str(free_port()) for page_port in PAGE_PORTS}
    for command in cluster:
        server = Started(on_free_ports(command, ports), tmp_path)
        started.append(server)
    for server in started:
        server.wait_ready()
    (toml,) = [block for block in blocks(PAGES[0], "toml") if "replicas" in block]
    network = tomllib.loads(with_ports(toml, ports))["network"]
    config = Config.model_validate({"server_id": "a", "network": network})
    assert config.network.replicas == 3
    assert len(config.network.urls) == 3
    deadline = time.monotonic() + DEADLINE
    while True:  # the NATS servers elect their JetStream leader on their own
        try:
            async with ClusterState(config.network, "a") as state:
                bucket = await state.key_value("docs_check", ttl=60)
                await bucket.put("k", b"v")
                assert (await bucket.get("k")).value == b"v"
                info = await state.jetstream.stream_info(f"KV_{state.bucket_name('docs_check')}")
                assert info.config.num_replicas == 3
                return
        except (NetworkUnavailable, nats.errors.Error, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.2)
