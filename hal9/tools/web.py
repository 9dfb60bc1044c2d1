"""The web_fetch tool: http(s) GET to public addresses only, checked on every hop.

The host is resolved here, every address it resolves to is checked, and the request is
sent to the checked address (the Host header and, for https, the TLS server name keep the
host name), so a DNS answer cannot change between the check and the connection. Redirects
are followed by hand, each one resolved and checked the same way. Loopback, private,
link-local (cloud metadata), shared, multicast and reserved addresses are refused as
``forbidden_host`` unless a configured network allows them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import anyio

from hal9.errors import SandboxViolation, ToolError

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: RFC 8215's local-use NAT64 prefix: where the IPv4 address sits depends on the operator's
#: prefix length, so none of it is reachable unless ``allowed_networks`` says so.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
#: IPv4-compatible addresses, ``::a.b.c.d`` (deprecated, but still parsed and routed by some stacks),
#: and IPv4-translated ones, ``::ffff:0:a.b.c.d`` (SIIT): both carry the IPv4 address in the last 32 bits.
_LAST_32_BITS_IPV4 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_URL_CHARS = 8192


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, off the event loop)."""
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def _embedded(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 one carries: mapped, compatible, translated, NAT64, 6to4, Teredo (both)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64 or any(address in network for network in _LAST_32_BITS_IPV4):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    return ()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a fetch gave: the final URL, the status, the content type and the text (cut at the limit)."""

    url: str
    status: int
    content_type: str
    text: str
    truncated: bool

    def as_text(self) -> str:
        note = "\n(body cut at the size limit)" if self.truncated else ""
        return f"status: {self.status}\nurl: {self.url}\ncontent-type: {self.content_type}\n\n{self.text}{note}"


class WebFetcher:
    """Fetches public http(s) URLs within limits.

    Args:
        hosts: host names allowed; empty allows any host whose addresses are public.
        allowed_networks: CIDRs reachable although not public (say, an intranet).
        timeout: seconds for the whole fetch, redirects included.
        max_bytes: body bytes kept; the rest is not read.
        max_redirects: redirects followed.
        resolver: how host names are resolved (tests give their own).
    """

    def __init__(
        self,
        *,
        hosts: Sequence[str] = (),
        allowed_networks: Sequence[str] = (),
        timeout: float,
        max_bytes: int,
        max_redirects: int,
        resolver: Resolver = resolve,
    ) -> None:
        self.hosts = frozenset(host.lower().rstrip(".") for host in hosts)
        self.allowed_networks = tuple(ipaddress.ip_network(net, strict=False) for net in allowed_networks)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolver = resolver

    def allowed(self, address: IPAddress) -> bool:
        """Whether a connection to ``address`` may be made."""
        if any(address in network for network in self.allowed_networks if network.version == address.version):
            return True
        embedded = _embedded(address)
        if embedded:
            # An IPv6 spelling of an IPv4 address is judged by that address, never by its own.
            return all(self.allowed(inner) for inner in embedded)
        if address in _NAT64_LOCAL:
            return False
        return address.is_global and not address.is_multicast

    async def check(self, url: str) -> tuple[str, int]:
        """The address and port to connect to for ``url``, or a violation; nothing is sent.

        The URL is split leniently here (a host httpx would reject, like ``0177.0.0.1``, is
        still resolved and refused as what it is), and the connection goes to the checked
        address whatever another parser makes of the host.

        Raises:
            SandboxViolation: forbidden_host.
            ToolError: a malformed URL, or the host cannot be resolved.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ToolError(f"not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise SandboxViolation("forbidden_host", f"only http and https URLs can be fetched, not {scheme!r}")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise SandboxViolation("forbidden_host", "the URL has no host")
        if self.hosts and host not in self.hosts:
            raise SandboxViolation("forbidden_host", f"{host!r} is not on this layer's host list")
        port = port or (443 if scheme == "https" else 80)
        addresses = await self.resolver(host, port)
        if not addresses:
            raise ToolError(f"{host!r} has no address")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not self.allowed(address):
                raise SandboxViolation(
                    "forbidden_host", f"{host!r} resolves to {address}, which is not a public address"
                )
        return addresses[0].split("%", 1)[0], port

    async def fetch(self, url: str) -> FetchResult:
        """GET ``url``, following redirects (each checked), within the time and size limits.

        Raises:
            SandboxViolation: forbidden_host, for the URL or any redirect.
            ToolError: a malformed URL, a network error, too many redirects, or the time limit.
        """
        if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
            raise ToolError(f"the URL must be a string of at most {MAX_URL_CHARS} characters")
        import httpx  # only a runtime that fetches pays its import

        current = url
        try:
            with anyio.fail_after(self.timeout):
                async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
                    for _ in range(self.max_redirects + 1):
                        result, location = await self._one(client, current)
                        if location is None:
                            return result
                        current = urljoin(current, location)
        except TimeoutError:
            raise ToolError(f"the fetch took longer than {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"the fetch failed: {type(exc).__name__}: {exc}") from None
        raise ToolError(f"more than {self.max_redirects} redirects")

    async def _one(self, client: httpx.AsyncClient, url: str) -> tuple[FetchResult, str | None]:
        import httpx

        address, port = await self.check(url)
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ToolError(f"not a valid URL: {exc}") from None
        pinned = parsed.copy_with(host=address, port=port)
        headers = {"Host": parsed.netloc.decode("ascii"), "Accept-Encoding": "identity", "User-Agent": "hal9-web-fetch"}
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                return FetchResult(url, response.status_code, "", "", False), response.headers["location"]
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_raw():
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    del body[self.max_bytes :]
                    truncated = True
                    break
        finally:
            await response.aclose()
        charset = response.charset_encoding or "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        content_type = response.headers.get("content-type", "")
        return FetchResult(url, response.status_code, content_type, text, truncated), None
