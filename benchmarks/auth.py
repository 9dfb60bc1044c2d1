"""What authentication adds to a request: auth off, an API key, and a JWT access token.

Run: ``python -m benchmarks.auth [--requests 400] [--rounds 5]``.

Each round sends ``--requests`` sequential ``GET /api/v1/neurons`` through the app in
process (httpx's ASGI transport, no socket), once per condition, the conditions
interleaved: auth off (``[auth] enabled = false``), an ``X-API-Key`` (its hash checked
against ``data_dir/hal9.db``, read in a worker thread), and a JWT access token (HS256
verified, then the user's state read the same way). Reported: the median over the rounds
of the mean time per request, and the ratio of each auth condition to auth off. Password
hashing is not in the path: a login happens once per 15 minutes, not per request.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from benchmarks._common import median, quiet_logs
from hal9 import Config, Runtime
from hal9.auth import Role, auth_services
from hal9.server import create_app

PASSWORD = "benchmark password"


def config(folder: Path, enabled: bool) -> Config:
    auth = {"enabled": enabled, "password_hash_memory_kib": 1024, "password_hash_time_cost": 1}
    return Config.model_validate({"data_dir": str(folder), "services": {"llm": "hal9.llm:LLMService"}, "auth": auth})


async def per_request(client: httpx.AsyncClient, headers: dict[str, str], requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        response = await client.get("/api/v1/neurons", headers=headers)
        assert response.status_code == 200
    return (time.perf_counter() - started) / requests


async def bench(args: argparse.Namespace, folder: Path) -> dict[str, list[float]]:
    off = Runtime(config(folder / "off", False))
    on_config = config(folder / "on", True)
    on = Runtime(on_config, services=auth_services(on_config))
    results: dict[str, list[float]] = {"auth off": [], "api key": [], "jwt": []}
    async with off, on:
        auth = on.services["auth"]
        key = (await auth.create_key("bench", Role.VIEWER)).token  # type: ignore[attr-defined]
        await auth.create_user("bench", PASSWORD, Role.VIEWER)  # type: ignore[attr-defined]
        transports = {name: httpx.ASGITransport(app=create_app(rt)) for name, rt in (("off", off), ("on", on))}
        async with (
            httpx.AsyncClient(transport=transports["off"], base_url="http://b") as plain,
            httpx.AsyncClient(transport=transports["on"], base_url="http://b") as guarded,
        ):
            login = await guarded.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
            token = login.json()["access_token"]
            conditions = (
                ("auth off", plain, {}),
                ("api key", guarded, {"X-API-Key": key}),
                ("jwt", guarded, {"Authorization": f"Bearer {token}"}),
            )
            for client, headers in ((plain, {}), (guarded, {"X-API-Key": key})):
                await per_request(client, headers, 50)  # warm-up
            for _ in range(args.rounds):
                for name, client, headers in conditions:
                    results[name].append(await per_request(client, headers, args.requests))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    quiet_logs()
    with tempfile.TemporaryDirectory() as folder:
        results = anyio.run(bench, args, Path(folder))
    baseline = median(results["auth off"])
    print(f"GET /api/v1/neurons in process, {args.requests} requests x {args.rounds} rounds (medians)")
    for name, values in results.items():
        print(f"  {name:9s} {median(values) * 1e6:8.1f} us/request  x{median(values) / baseline:.2f}")


if __name__ == "__main__":
    main()
