"""Names, help texts and label names of the contract's metric families.

One table, checked against ``metrics-contract.tsv`` by a test, so no code path can
drift from the contract. A family is *registered* only by the code that feeds it.
Counter names are given without ``_total``: prometheus_client appends it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    labels: tuple[str, ...] = ()


# System
SERVER_UPTIME = Family("hal9_server_uptime_seconds", "Seconds since the runtime started", ("server_id",))
SERVER_CONNECTIONS = Family(
    "hal9_server_connections_active", "Open HTTP and WebSocket connections being served", ("server_id",)
)
SERVER_MEMORY = Family(
    "hal9_server_memory_bytes",
    "Process memory: heap is the resident set size, "
    "stack the main thread's stack plus the stacks reserved by other threads",
    ("server_id", "type"),
)
HTTP_REQUESTS = Family(
    "hal9_http_requests",
    "HTTP requests answered, by method, route template and status",
    ("method", "endpoint", "status"),
)
HTTP_DURATION = Family(
    "hal9_http_request_duration_seconds", "HTTP request duration by method and route template", ("method", "endpoint")
)
WEBSOCKET_CONNECTIONS = Family("hal9_websocket_connections_active", "Open WebSocket connections")

# Neurons
NEURON_HEALTH = Family(
    "hal9_neuron_health", "Neuron health (1 healthy: its actor loop is running; 0 not)", ("neuron_id", "layer")
)
NEURON_STATE = Family(
    "hal9_neuron_state", "Neuron state: 1 for the current state, 0 for the others", ("neuron_id", "state")
)
NEURON_QUEUE = Family("hal9_neuron_queue_size", "Signals waiting in the neuron's mailbox", ("neuron_id",))
SIGNALS_PROCESSED = Family(
    "hal9_signals_processed",
    "Signals processed by a neuron, by outcome of its process()",
    ("neuron_id", "layer", "status"),
)
SIGNAL_DURATION = Family(
    "hal9_signal_processing_duration_seconds", "Duration of a neuron's process() per signal", ("neuron_id", "layer")
)
SIGNALS_FORWARDED = Family(
    "hal9_signals_forwarded", "Signals delivered from one neuron to a downstream neuron", ("from_neuron", "to_neuron")
)

# Claude
CLAUDE_CALLS = Family(
    "hal9_claude_api_calls",
    "LLM calls by what answered them (real or mock), model and outcome",
    ("mode", "model", "status"),
)
CLAUDE_DURATION = Family("hal9_claude_api_duration_seconds", "LLM call duration by mode and model", ("mode", "model"))
CLAUDE_TOKENS = Family("hal9_claude_tokens_used", "LLM tokens used, prompt or completion", ("type", "model"))
CLAUDE_COST = Family("hal9_claude_cost_dollars", "LLM spend in US dollars, from the configured price table", ("model",))
CLAUDE_COST_RATE = Family(
    "hal9_claude_cost_rate_dollars_per_hour", "LLM spend of the last 60 minutes (a sliding window), in US dollars"
)
CLAUDE_BUDGET_REMAINING = Family(
    "hal9_claude_budget_remaining_dollars",
    "LLM budget left in the current UTC hour, day or month (+Inf when that period has no limit)",
    ("period",),
)

# Generic measurement for a user's own services (registered only when such a service exists).
SERVICE_OPERATIONS = Family(
    "hal9_service_operations", "Operations of user-defined services by outcome", ("service", "operation", "status")
)
SERVICE_DURATION = Family(
    "hal9_service_operation_duration_seconds", "Duration of user-defined service operations", ("service", "operation")
)

# Memory
MEMORY_OPERATIONS = Family(
    "hal9_memory_operations", "Memory operations (store, retrieve, search) by outcome", ("operation", "status")
)
MEMORY_DURATION = Family("hal9_memory_operation_duration_seconds", "Memory operation duration", ("operation",))
MEMORY_CACHE_HITS = Family("hal9_memory_cache_hits", "Retrieves by id answered from the memory cache")
MEMORY_CACHE_MISSES = Family("hal9_memory_cache_misses", "Retrieves by id that had to read the database")
MEMORY_DATABASE_BYTES = Family(
    "hal9_memory_database_bytes", "Size of the memory database file, its WAL file and its search index"
)
#: A gauge although its name ends in ``_total``: the metric contract names it so and dashboards use the name.
#: Kept out of the module-level ``Family`` table, whose rule is "no ``_total`` in a name" (that rule
#: is for counters, where prometheus_client appends the suffix).
GAUGES_NAMED_TOTAL: dict[str, Family] = {
    "memory_entries": Family(
        "hal9_memory_entries_total", "Entries in memory by neuron (a gauge despite its name)", ("neuron_id",)
    ),
}

# Authentication
AUTH_USERS_ACTIVE = Family(
    "hal9_auth_users_active", "Distinct principals (users and API keys) seen in the last 15 minutes"
)
AUTH_ATTEMPTS = Family(
    "hal9_auth_attempts", "Authentication attempts by type (login, api_key) and outcome", ("type", "status")
)
AUTH_TOKENS_ISSUED = Family("hal9_auth_tokens_issued", "JWTs issued, access or refresh", ("type",))
AUTH_API_KEYS_ACTIVE = Family("hal9_auth_api_keys_active", "API keys neither revoked nor expired")
AUTH_API_KEY_USAGE = Family(
    "hal9_auth_api_key_usage", "Requests authenticated by each API key, by its public id", ("key_id",)
)
# Learning
LEARNING_CYCLES = Family("hal9_learning_cycles", "Feedbacks (given or from a failed branch) processed end to end")
LEARNING_GRADIENT = Family(
    "hal9_learning_error_gradient",
    "A neuron's error gradient: its smoothed share of the errors fed back",
    ("neuron_id",),
)
LEARNING_ADJUSTMENTS = Family(
    "hal9_learning_adjustments",
    "Prompt adjustments judged over the neuron's next outcomes: success (kept) or failure (rolled back)",
    ("neuron_id", "type"),
)
LEARNING_PATTERNS = Family(
    "hal9_learning_patterns_identified",
    "Error patterns identified (a type seen the configured number of times)",
    ("pattern_type",),
)
LEARNING_EFFECTIVENESS = Family(
    "hal9_learning_effectiveness_ratio",
    "A neuron's success rate over its recent outcomes (a sliding window)",
    ("neuron_id",),
)
# MCP tools
MCP_TOOL_INVOCATIONS = Family(
    "hal9_mcp_tool_invocations",
    "MCP tool calls by tool (built-in and discovered external tools; others 'other') and outcome",
    ("tool", "status"),
)
MCP_TOOL_DURATION = Family("hal9_mcp_tool_duration_seconds", "MCP tool call duration by tool", ("tool",))
MCP_SECURITY_VIOLATIONS = Family(
    "hal9_mcp_security_violations",
    "Tool calls the sandbox refused before running, by tool and violation type "
    "(path_traversal, forbidden_command, forbidden_host, forbidden_tool)",
    ("tool", "violation_type"),
)

# Network (distributed mode over NATS; registered by hal9.network)
NETWORK_SERVERS_CONNECTED = Family(
    "hal9_network_servers_connected", "Other servers of the cluster heard from within the last three heartbeats"
)
NETWORK_LATENCY = Family(
    "hal9_network_latency_seconds",
    "Round trip of the last ping from this server to a connected peer, in seconds",
    ("from_server", "to_server"),
)
NETWORK_MESSAGES = Family(
    "hal9_network_messages",
    "Messages on the network: signals and their results (signal), heartbeats and pings (heartbeat)",
    ("direction", "type"),
)
