"""What ``serve`` tells the user at start: where it listens, what it keeps where, what answers, what it may do.

A newcomer must not have to guess which LLM answers (a set ``ANTHROPIC_API_KEY`` means the
real, paid API), where the database is (``data_dir`` is relative to the folder the server
runs in), or whether the API is open. :func:`startup_summary` gives one line per subject;
``serve`` prints them as a block on a terminal and logs them as one ``server.summary`` event
otherwise (JSON lines stay JSON).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hal9.llm.select import API_KEY_VARIABLE

if TYPE_CHECKING:
    from hal9.config import Config
    from hal9.runtime.services import Services

#: The keys of the summary, in the order they are shown.
SUMMARY_KEYS = ("url", "data_dir", "llm", "models", "budgets", "auth", "tools", "network")


def _llm_line(config: Config, llm: object | None, environ: Mapping[str, str]) -> str:
    from hal9.llm import ClaudeService, MockLLM

    key_found = bool(environ.get(API_KEY_VARIABLE))
    if llm is None:
        return "none (no llm service in [services]): LLM neurons fail their signals"
    if isinstance(llm, ClaudeService):
        why = f"{API_KEY_VARIABLE} found" if config.llm.mode == "auto" else "llm.mode = real"
        fallback = ", falls back to the mock while the API is unavailable" if llm.fallback is not None else ""
        return f"real: the Claude API, billed to your account ({why}{fallback})"
    if isinstance(llm, MockLLM):
        if config.llm.mode == "auto":
            why = f"no {API_KEY_VARIABLE}"
        else:
            why = "llm.mode = mock" + (f", although {API_KEY_VARIABLE} is set" if key_found else "")
        priced = "calls priced as the models below would cost" if llm.priced else "calls cost nothing (llm.mock.priced)"
        return f"mock: deterministic replies, no network ({why}; {priced})"
    return f"custom: {type(llm).__module__}.{type(llm).__qualname__}"


def _models_line(config: Config) -> str:
    layers = [f"{layer.value} {chosen.model}" for layer, chosen in sorted(config.llm.layers.items(), reverse=True)]
    return ", ".join([*layers, f"other calls {config.llm.model}"])


def _dollars(limit: float | None) -> str:
    return "no limit" if limit is None or math.isinf(limit) else f"${limit:g}"


def _budgets_line(config: Config, llm: object | None) -> str:
    from hal9.llm import ClaudeService, MockLLM

    budget = config.llm.budget
    line = f"{_dollars(budget.hour)}/hour, {_dollars(budget.day)}/day, {_dollars(budget.month)}/month (UTC)"
    if isinstance(llm, MockLLM) and not llm.priced:
        return line + "; the mock's calls cost nothing"
    if isinstance(llm, MockLLM):
        return line + "; the mock's spend is kept apart from the real API's"
    if not isinstance(llm, ClaudeService):
        return line + "; not applied (no built-in LLM service)"
    return line


def _auth_line(config: Config) -> str:
    if config.auth.enabled:
        return "on: /api/v1 and /ws need an API key or a token"
    return "off: anyone who can reach the address may use the API (loopback only)"


def _tools_line(config: Config) -> str:
    if "tools" not in config.services:
        return "none (no tools service in [services])"
    layers = sorted(config.tools.layers.items(), reverse=True)
    grants = [f"{layer.value} {', '.join(policy.tools)}" for layer, policy in layers if policy.tools]
    return "; ".join(grants) if grants else "none granted ([tools.layers.<layer>] tools = [...])"


def _network_line(config: Config) -> str:
    if not config.network.nats_url:
        return "none (this server runs every neuron)"
    placed = sorted({n.server for n in config.neurons if n.server not in (None, config.server_id)})
    elsewhere = f"; neurons on {', '.join(placed)}" if placed else ""
    state = (
        "state shared on JetStream: budgets, auth, accepted requests, memory, feedback"
        if config.network.shared
        else "each server keeps its own state (shared_state = false)"
    )
    where = f"cluster {config.network.cluster}, server_id {config.server_id}{elsewhere}"
    return f"{config.network.nats_url} ({where}); {state}"


def startup_summary(
    config: Config, services: Services, url: str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """One line per subject: ``url``, ``data_dir`` (absolute), ``llm`` (which, and why), ``models``,
    ``budgets``, ``auth``, ``tools`` (the grants) and ``network``."""
    from hal9.runtime.llm import LLM

    env = os.environ if environ is None else environ
    llm = services.get(LLM)
    data_dir = f"{config.data_dir.resolve()} (the database is hal9.db in it)" if config.data_dir else "none"
    return {
        "url": url,
        "data_dir": data_dir,
        "llm": _llm_line(config, llm, env),
        "models": _models_line(config),
        "budgets": _budgets_line(config, llm),
        "auth": _auth_line(config),
        "tools": _tools_line(config),
        "network": _network_line(config),
    }


_TITLES = {
    "url": "URL",
    "data_dir": "data folder",
    "llm": "LLM",
    "models": "models",
    "budgets": "budgets",
    "auth": "auth",
    "tools": "tools",
    "network": "network",
}


def render_summary(summary: Mapping[str, str]) -> str:
    """The summary as the block ``serve`` prints on a terminal."""
    width = max(len(title) for title in _TITLES.values())
    lines = [f"  {_TITLES[key] + ':':<{width + 1}} {summary[key]}" for key in SUMMARY_KEYS if key in summary]
    return "HAL9 is serving\n" + "\n".join(lines) + "\n"
