"""web_fetch: the SSRF corpus (never connected to), redirects checked on every hop, size limits."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from hal9 import Layer
from tests.tools.helpers import invocations, tool_service, violations

L2 = Layer.L2

#: Loopback, private, link-local and metadata targets in every spelling, names resolving to
#: loopback, and schemes other than http(s).
SSRF_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/admin",
    "http://127.1/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[::127.0.0.1]/",
    "http://[::7f00:1]/",
    "http://[::ffff:0:7f00:1]/",
    "http://[64:ff9b:1::7f00:1]/",
    "http://[2001:0:7f00:1::80ff:fffe]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://loopback.test/",
    "http://user:pass@loopback.test:80/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "https://127.0.0.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "ftp://example.com/",
    "dict://127.0.0.1:11211/",
    "http:///etc/passwd",
]


@pytest.mark.anyio
@pytest.mark.parametrize("url", SSRF_URLS)
async def test_an_ssrf_target_is_refused_before_connecting_and_counted(tmp_path: Path, url: str) -> None:
    async with tool_service(tmp_path) as service:
        output = await service.call("web_fetch", {"url": url}, layer=L2)
        assert output.is_error
        assert "forbidden_host" in output.text
        assert violations(service, "web_fetch", "forbidden_host") == 1
        assert invocations(service, "web_fetch", "error") == 1


@pytest.mark.anyio
async def test_a_host_off_the_layers_list_is_refused_without_resolving(tmp_path: Path) -> None:
    async with tool_service(tmp_path, hosts=("docs.example.org",)) as service:
        output = await service.call("web_fetch", {"url": "https://other.example.org/"}, layer=L2)
        assert "forbidden_host" in output.text
        assert violations(service, "web_fetch", "forbidden_host") == 1


@pytest.mark.anyio
async def test_the_guard_refuses_real_names_and_addresses(network_guard: list[str]) -> None:
    """The guard itself works: a test that tried to reach the internet would fail."""
    with pytest.raises(AssertionError, match="resolve"):
        socket.getaddrinfo("example.com", 80)
    with socket.socket() as sock, pytest.raises(AssertionError, match="connect"):
        sock.connect(("192.0.2.1", 80))
    assert len(network_guard) == 2
    network_guard.clear()


class Site:
    """An HTTP site on a loopback address; ``hits`` counts what it served."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.url = ""
        self.secret_url = ""

    async def handle(self, request: Request) -> Response:
        self.hits.append(request.url.path)
        path = request.url.path
        if path == "/page":
            return PlainTextResponse(f"hello from {request.headers['host']}")
        if path == "/big":
            return PlainTextResponse("x" * 5000)
        if path == "/hop":
            return RedirectResponse("/page", status_code=302)
        if path == "/out":
            return RedirectResponse(self.secret_url, status_code=302)
        if path == "/out-by-name":
            return RedirectResponse(self.secret_url.replace("127.0.0.1", "localhost"), status_code=307)
        if path == "/loop":
            return RedirectResponse("/loop", status_code=301)
        return PlainTextResponse("the secret", status_code=200)


@asynccontextmanager
async def serve(site: Site, host: str) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(16)
    app = Starlette(routes=[Route("/{path:path}", site.handle)])
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", ws="none"))
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve, [sock])
            try:
                yield f"http://{host}:{sock.getsockname()[1]}"
            finally:
                server.should_exit = True
    finally:
        sock.close()


@pytest.mark.anyio
async def test_a_fetch_from_an_allowed_network_follows_checked_redirects(tmp_path: Path) -> None:
    """127.0.0.2 is allowed by config; a redirect from it to 127.0.0.1 (not allowed) is refused."""
    site, secret = Site(), Site()
    async with serve(site, "127.0.0.2") as base, serve(secret, "127.0.0.1") as secret_base:
        site.secret_url = f"{secret_base}/secret"
        async with tool_service(
            tmp_path, web_allowed_networks=("127.0.0.2/32",), web_max_bytes=1000, web_max_redirects=3
        ) as service:
            page = await service.call("web_fetch", {"url": f"{base}/page"}, layer=L2)
            hop = await service.call("web_fetch", {"url": f"{base}/hop"}, layer=L2)
            big = await service.call("web_fetch", {"url": f"{base}/big"}, layer=L2)
            out = await service.call("web_fetch", {"url": f"{base}/out"}, layer=L2)
            by_name = await service.call("web_fetch", {"url": f"{base}/out-by-name"}, layer=L2)
            loop = await service.call("web_fetch", {"url": f"{base}/loop"}, layer=L2)
            assert violations(service, "web_fetch", "forbidden_host") == 2
            assert invocations(service, "web_fetch", "success") == 3
            assert invocations(service, "web_fetch", "error") == 3
    assert not page.is_error
    assert "status: 200" in page.text
    assert f"hello from {base.removeprefix('http://')}" in page.text  # the Host header keeps the name
    assert page.text.endswith(f"hello from {base.removeprefix('http://')}")
    assert "hello from" in hop.text
    assert f"url: {base}/page" in hop.text
    assert "(body cut at the size limit)" in big.text
    assert "x" * 1000 in big.text
    assert "x" * 1001 not in big.text
    assert "forbidden_host" in out.text
    assert "forbidden_host" in by_name.text
    assert "more than 3 redirects" in loop.text
    assert secret.hits == []  # the redirect target was never contacted
