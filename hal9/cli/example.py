"""What ``python -m hal9 init`` writes: every section, commented."""

EXAMPLE_CONFIG = """\
# HAL9 configuration. Every key is optional; the values shown are the defaults.
# Any key can be overridden by an environment variable HAL9_SECTION__KEY,
# for example HAL9_SERVER__PORT=9000 or HAL9_RUNTIME__MAILBOX_CAPACITY=128.

# Identifies this server in metrics (label server_id); defaults to the host name.
# server_id = "hal9-1"

# Everything the runtime keeps on disk lives in this folder.
data_dir = "hal9-data"

# Services by name, each "package.module:Class". The defaults: the LLM (mock, or Claude when
# ANTHROPIC_API_KEY is set; see [llm]), the memory service (one SQLite file,
# data_dir/hal9.db; neurons store their results and tasks and recall the relevant ones), the
# MCP tools (see [tools]; no layer gets a tool unless granted) and the learning service
# (feedback and failed branches become lessons in the neurons' prompts). Leave one out to
# run without it:
# services = { llm = "hal9.llm:LLMService", memory = "hal9.memory:SQLiteMemory",
#              tools = "hal9.tools:ToolService", learning = "hal9.learning:LearningService" }

[server]
host = "127.0.0.1"
port = 8080
request_timeout = 300.0       # wait=true answers 504 after this (a request is several LLM calls)
max_content_chars = 100000    # larger requests get 413
websocket_buffer = 256        # events queued per /ws or event-stream client before it is cut off
retry_after_seconds = 1       # Retry-After of a 503 when the entry mailbox is full
forwarded_allow_ips = []      # reverse proxies whose X-Forwarded-For is believed, e.g. ["10.0.0.5", "10.1.0.0/16"];
                              # none by default: the login limit and the logs count the connecting address

[runtime]
mailbox_capacity = 64         # signals queued per neuron
send_timeout = 5.0            # a sender waits this long on a full mailbox, then MailboxFull
drain_timeout = 10.0          # on shutdown, in-flight requests get this long to finish
restart_backoff_initial = 0.05
restart_backoff_max = 5.0
max_traces = 10000            # finished requests kept for GET /api/v1/signals/{id}
max_path_hops = 1000          # hops recorded per request
memory_stores_in_flight = 128  # requests whose memories are being stored at once; more wait (nothing is dropped)
neuron_concurrency = 1        # signals a neuron works on at once, unless its class or entry says (LLM neurons: 64)

[llm]
mode = "auto"                 # auto: real when ANTHROPIC_API_KEY is set, else the mock; or "mock", "real"
max_tokens = 1024             # completion cap, unless a layer sets its own
model = "claude-sonnet-5-5"   # for calls that name no layer
timeout = 60.0                # seconds per attempt (the anthropic SDK's timeout); ANTHROPIC_BASE_URL is honoured
max_retries = 2               # the SDK's retries on 408, 409, 429, 5xx and connection errors
max_concurrency = 8           # real API calls in flight at once
fallback_to_mock = false      # answer from the mock while the real API is unavailable
breaker_failures = 5          # consecutive failures that open the circuit breaker (calls then fail fast)
breaker_cooldown = 30.0       # seconds open before one probe call is let through

[llm.layers.L4]
model = "claude-opus-5-5"
[llm.layers.L3]
model = "claude-sonnet-5-5"
[llm.layers.L2]
model = "claude-haiku-4-5"    # a layer may also set max_tokens

[llm.budget]                  # US dollars per UTC calendar hour, day and month; spend is kept in data_dir/hal9.db
hour = 5.0
day = 50.0
month = 500.0

# Prices in US dollars per million tokens are built in for current Claude models; add or override:
# [llm.prices.claude-example-1]
# input = 3.0
# output = 15.0
[llm.default_price]           # for models outside the price table (labelled "other" in metrics)
input = 15.0
output = 75.0

[llm.mock]
model = "mock-claude"         # the model label the mock's calls are counted under
latency_seconds = 0.0
priced = true                 # cost each call as the layer's model above would (budgets apply; spend kept
                              # apart from the real API's); false: mock calls cost nothing
# Scripted replies: the first rule whose layer and trigger match answers the call.
# [[llm.mock.replies]]
# layer = "L4"
# trigger = "weather"
# reply = '{"directives": ["Find the forecast", "Summarise it"]}'

[memory]                      # settings of the memory service
cache_size = 1024             # entries kept in the retrieve-by-id LRU cache
max_content_chars = 100000    # longer entries are refused (413 from the API)
batch_size = 256              # most entries one commit writes (concurrent stores share commits)
queue_size = 4096             # stores waiting for the writer before senders wait
synchronous = "full"          # full: a stored entry survives power loss; normal: a process crash
retention_max_age_seconds = 2592000.0  # 30 days unused ...
retention_min_importance = 0.75        # ... and less important than this: removed (lessons are 0.9)
retention_interval_seconds = 600.0
retention_batch = 1000        # entries one retention statement removes (a run repeats it)
stats_interval_seconds = 5.0  # how often the database size is re-read for /metrics
max_entries = 1000000         # past it the least important, then longest unused, are evicted
max_bytes = 2147483648        # the same for the database file's bytes in use (2 GiB)
index_refresh_seconds = 1.0   # new entries reach the search index (and recall) within this

[logging]
level = "info"                # debug, info, warning, error
format = "auto"               # auto (console on a terminal, JSON otherwise), json, console

[auth]                        # every /api/v1 route and /ws need a JWT or an API key
enabled = true                # false is accepted only when [server] host is a loopback address
# secret_key = "..."          # JWT signing key (32+ characters; or HAL9_AUTH__SECRET_KEY); default:
                              # generated once into data_dir/auth-signing.key (mode 0600)
algorithm = "HS256"           # the only algorithm accepted: HS256, HS384 or HS512
access_token_seconds = 900    # 15 minutes
refresh_token_seconds = 604800  # 7 days; a refresh token works once, reuse revokes its session
# metrics_token = "..."       # when set, GET /metrics needs "Authorization: Bearer <metrics_token>"
login_max_failures_per_user = 5      # failed logins within the window before 429 + Retry-After
login_max_failures_per_address = 20
login_window_seconds = 300.0
password_min_length = 12
bootstrap_admin_key = true    # first start without users or keys: print an admin API key once (stderr)
[learning]                    # feedback -> error gradients along the signal path -> prompt lessons
decay = 0.5                   # share of an error passed back per hop upstream
smoothing = 0.5               # weight of a new error in a neuron's gradient (1: only the latest counts)
threshold = 0.5               # a gradient at or above it adjusts the neuron's prompt (adds a lesson)
success_score = 0.5           # feedback scores at or above it are successes
window = 50                   # outcomes per neuron in its effectiveness (a sliding window)
evaluation_outcomes = 5       # outcomes after an adjustment that judge it (kept or rolled back)
pattern_threshold = 3         # occurrences of a pattern type (timeout, budget, ...) that identify it
max_lessons = 5               # lessons a prompt carries at most ...
max_lesson_chars = 300        # ... each at most this long ...
max_prompt_chars = 1200       # ... and all of them together
history = 20                  # lessons (any status) kept per neuron for GET /api/v1/neurons/{id}/learning
write_with_llm = true         # the neuron's LLM writes lessons (through the budget); false: a rule does
[tools]                       # MCP tools: built-in file_read, file_write, shell, web_fetch, and external servers
# root = "hal9-data-workspace"  # the sandbox folder (default: beside data_dir, never inside)
max_rounds = 4                # tool_use rounds per neuron answer
call_timeout = 60.0           # seconds per tool call, end to end
max_result_chars = 20000      # tool output sent back to the model
max_read_bytes = 1000000
max_write_bytes = 1000000
shell_timeout = 10.0          # the command's whole process group is killed after this
shell_max_output_bytes = 65536
shell_landlock = "auto"       # confine commands with Landlock where the kernel has it; "required", "off"
web_timeout = 10.0
web_max_bytes = 1000000
web_max_redirects = 5
web_allowed_networks = []     # CIDRs web_fetch may reach although not public, e.g. "10.0.0.0/8"
# No layer gets a tool until it is granted here (tools: built-in names or names of [tools.servers]):
# [tools.layers.L2]
# tools = ["file_read", "file_write", "shell", "web_fetch"]
# commands = ["ls", "cat", "grep", "wc"]   # the shell allow list (bare names)
# hosts = []                               # web_fetch hosts; empty: any public host
# [tools.servers.time]                     # an external MCP server (stdio command or url)
# command = ["uvx", "mcp-server-time"]
# What `python -m hal9 mcp` serves (its root: tools.mcp.root, else the folder it starts in):
[tools.mcp]
tools = ["file_read", "file_write", "shell", "web_fetch"]
commands = ["ls", "cat", "head", "tail", "wc", "grep", "pwd", "echo", "date"]

# Distributed mode (pip install 'hal9[distributed]'): on when nats_url is set; a neuron's
# server = "<server_id>" then places it on another server (see examples/distributed/).
# [network]
# nats_url = "nats://127.0.0.1:4222"   # comma-separated for several; HAL9_NETWORK__NATS_URL overrides
# cluster = "hal9"                     # servers talk only within one cluster
# token = "..."                        # or user = "..." and password = "..."; TLS: tls_ca, tls_cert, tls_key
# heartbeat_interval = 1.0             # a peer missing three heartbeats is gone
# delivery_timeout = 30.0              # a signal not accepted, or whose server is gone, this long fails
# ack_timeout = 1.0                    # one delivery attempt waits this long for the acknowledgement
# resend_interval = 5.0                # an accepted signal whose result has not come is re-sent this often
# send_concurrency = 16                # signals to one remote neuron awaiting their ack at once
# max_peers = 64
# max_in_flight = 10000

# The network: one [[neurons]] table per neuron. kind is a built-in kind
# (strategic, design, implementation) or "package.module:Class" of your own Neuron.
# An entry may also set mailbox_capacity, prompt, server (distributed mode) and
# concurrency (signals it works on at once; 1 keeps their order).
[[neurons]]
id = "strategic"
layer = "L4"
kind = "strategic"
downstream = ["design"]

[[neurons]]
id = "design"
layer = "L3"
kind = "design"
downstream = ["implementation"]

[[neurons]]
id = "implementation"
layer = "L2"
kind = "implementation"
"""
