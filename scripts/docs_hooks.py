"""mkdocs hooks (``hooks:`` in mkdocs.yml): the reference pages, generated from the code at build time.

A page asks for a generated part between two marker lines, ``<!-- hal9:generate NAME -->`` and
``<!-- /hal9:generate -->``; the hook replaces them, and the words between them (what a reader of the
Markdown file on GitHub sees instead), with Markdown written from the code, so the pages cannot drift
from it:

- ``config``: every key of ``hal9.config.Config`` (the pydantic models): type, default, limits, description;
- ``http-api``: every route of the OpenAPI description of ``hal9.server.create_app``, and its schemas;
- ``metrics``: every metric family of ``hal9.metrics.families`` with the contract's type, labels and buckets;
- ``cli``: the help of every ``hal9`` command, as ``hal9 ... --help`` prints it;
- ``monitoring``: the alerts, recording rules and dashboards of ``hal9/monitoring``;
- ``roles``: the permissions of each role, from ``hal9.auth.permissions.ROLE_PERMISSIONS``.

It also adds ``reference/openapi.json``, the whole OpenAPI description, to the site. Nothing here
touches the network or a data folder: the app is built on a runtime that is never started.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import math
import os
import re
import tempfile
import types
import typing
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

#: A generated part: the opening marker, what GitHub shows in its place (dropped), the closing marker.
MARKER = re.compile(r"^<!-- hal9:generate ([a-z-]+) -->\n.*?^<!-- /hal9:generate -->$", re.MULTILINE | re.DOTALL)
ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "tests" / "data" / "metrics-contract.tsv"
OPENAPI_FILE = "reference/openapi.json"

#: Defaults computed on the machine that runs (a factory), described instead of shown as the build machine's.
DYNAMIC_DEFAULTS = {("Config", "server_id"): "the machine's host name"}


# -- mkdocs events ------------------------------------------------------------------------------


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, OPENAPI_FILE, content=json.dumps(openapi(), indent=2) + "\n"))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def generate(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_uri}: unknown generated part {name!r} (known: {sorted(GENERATORS)})")
        return GENERATORS[name]()

    if re.search(r"^<!-- hal9:generate", MARKER.sub("", markdown), re.MULTILINE):
        raise PluginError(f"{page.file.src_uri}: a <!-- hal9:generate --> marker without its closing line")
    return MARKER.sub(generate, markdown)


# -- values and types ----------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A default as it would be written in hal9.toml."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:_}"  # as TOML allows: 1_000_000
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_value(k).strip(chr(34))} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump(exclude_defaults=True))
    return repr(value)


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin is tuple:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {type_name(args[1])}"
    if annotation is type(None):
        return "none"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(json.dumps(m.value) for m in annotation)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret string"}
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def limits(field: FieldInfo) -> str:
    parts = []
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥", "max_length": "length ≤"}
    for item in field.metadata:
        for attribute, symbol in symbols.items():
            bound = getattr(item, attribute, None)
            if bound is not None:
                parts.append(f"{symbol} {toml_value(bound)}")
        pattern = getattr(item, "pattern", None)
        if pattern is not None:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def section_models(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """How a field nests another section: ``("table", M)``, ``("array", M)`` or ``("map", M)``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table", annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1 and len(args) == 2 and type(None) in args:
            return "table", models[0]
    if origin is tuple and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return "array", args[0]
    if origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return "map", args[1]
    return None


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- the configuration reference ------------------------------------------------------------------


def config_reference() -> str:
    from hal9.config import Config

    out: list[str] = []
    emit_section(out, Config, path=[], title="Top level", env=True)
    return "\n".join(out)


def key_of(model: type[BaseModel], name: str) -> str:
    from hal9.layer import Layer

    annotation = model.model_fields[name].annotation
    if typing.get_origin(annotation) is dict and typing.get_args(annotation)[0] is Layer:
        return "LAYER"
    return "NAME"


def emit_section(
    out: list[str], model: type[BaseModel], path: list[str], title: str, env: bool, intro: str = ""
) -> None:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ").replace("``", "`")
    out.append(f"## {title}\n")
    out.extend(text + "\n" for text in (doc, intro) if text)
    nested: list[tuple[str, str, type[BaseModel], FieldInfo]] = []
    rows = []
    for name, field in model.model_fields.items():
        kind = section_models(field.annotation)
        if kind is not None:
            nested.append((name, kind[0], kind[1], field))
        else:
            rows.append(field_row(model, name, field, path, env))
    if rows:
        out.extend(["| Key | Type | Default | Description |", "|---|---|---|---|", *rows, ""])
    for name, kind, child, field in nested:
        dotted = [*path, name]
        if kind == "map":
            dotted.append(key_of(model, name))
        heading = f"`[[{'.'.join(dotted)}]]`" if kind == "array" else f"`[{'.'.join(dotted)}]`"
        words = []
        if field.description:
            words.append(field.description[0].upper() + field.description[1:] + ".")
        default = field_default(model, name, field)
        if default not in ("[]", "{}", "(none)"):
            words.append(f"Default: `{default}`.")
        emit_section(out, child, dotted, heading, env and kind == "table", " ".join(words))


def field_default(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    if (model.__name__, name) in DYNAMIC_DEFAULTS:
        return DYNAMIC_DEFAULTS[(model.__name__, name)]
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return toml_value(value)


def from_environment(model: type[BaseModel], name: str, field: FieldInfo) -> bool:
    """Whether ``HAL9_SECTION__KEY`` can set the key: a scalar, or a list its validator splits from a string."""
    origin = typing.get_origin(field.annotation)
    if origin is dict:
        return False
    if origin is tuple:
        validators = model.__pydantic_decorators__.field_validators.values()
        return any(name in v.info.fields and v.info.mode == "before" for v in validators)
    return True


def field_row(model: type[BaseModel], name: str, field: FieldInfo, path: list[str], env: bool) -> str:
    default = field_default(model, name, field)
    default_cell = "required" if default == "required" else f"`{cell(default)}`"
    if (model.__name__, name) in DYNAMIC_DEFAULTS:
        default_cell = cell(default)
    description = (field.description or "").replace("``", "`")
    if limits(field):
        description = f"{description} ({limits(field)})" if description else limits(field)
    if env and from_environment(model, name, field):
        variable = "HAL9_" + "__".join(part.upper() for part in [*path, name])
        description += f"{'<br>' if description else ''}env `{variable}`"
    anchor = "-".join([*path, name]).lower()
    key = f'<a id="{anchor}"></a>`{name}`'
    return f"| {key} | {type_name(field.annotation)} | {default_cell} | {cell(description)} |"


# -- the HTTP API -----------------------------------------------------------------------------------


@cache
def openapi() -> dict[str, Any]:
    """The OpenAPI description of the app ``serve`` builds (auth on), from a runtime that is never started."""
    from hal9 import Runtime
    from hal9.auth import auth_services
    from hal9.config import Config
    from hal9.server import create_app

    with tempfile.TemporaryDirectory() as folder:
        # The mock whatever the environment holds: the routes do not depend on the LLM.
        config = Config.model_validate({"data_dir": Path(folder) / "data", "llm": {"mode": "mock"}})
        runtime = Runtime(config, services=auth_services(config))
        return create_app(runtime).openapi()


def schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[`{name}`](#schema-{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(schema_name(s) for s in schema[key])
    if schema.get("type") == "array":
        return f"list of {schema_name(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    extra = []
    for bound, symbol in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if bound in schema:
            extra.append(f"{symbol} {schema[bound]}")
    for bound, symbol in (("minLength", "length ≥"), ("maxLength", "length ≤")):
        if bound in schema:
            extra.append(f"{symbol} {schema[bound]:,}")
    return kind + (f" ({', '.join(extra)})" if extra else "")


def http_reference() -> str:
    doc = openapi()
    out = [
        f"The description below is generated from the running code's OpenAPI document "
        f"(version {doc['info']['version']}); the whole document is [openapi.json](openapi.json), "
        f"and a server serves its own at `GET /openapi.json`.\n",
        "| Method | Path | What it does |",
        "|---|---|---|",
    ]
    operations = list(iter_operations(doc))
    for method, path, op in operations:
        out.append(f"| {method} | [`{path}`](#{op['operationId']}) | {cell(op.get('summary', ''))} |")
    out.append("")
    for method, path, op in operations:
        out.append(f"### {method} `{path}` {{ #{op['operationId']} }}\n")
        out.append((op.get("description") or op.get("summary", "")).replace("``", "`") + "\n")
        security = op.get("security")
        out.append(
            "**Credentials:** an API key (`X-API-Key` or `Authorization: Bearer`) or an access token "
            "(`Authorization: Bearer`).\n"
            if security
            else "**Credentials:** none.\n"
        )
        parameters = op.get("parameters", [])
        if parameters:
            out.append("| Parameter | In | Type | Required | Description |")
            out.append("|---|---|---|---|---|")
            out.extend(
                f"| `{p['name']}` | {p['in']} | {cell(schema_name(p.get('schema', {})))} | "
                f"{'yes' if p.get('required') else 'no'} | {cell(p.get('description', ''))} |"
                for p in parameters
            )
            out.append("")
        body = op.get("requestBody")
        if body:
            for media, content in body.get("content", {}).items():
                out.append(f"**Body** (`{media}`): {schema_name(content.get('schema', {}))}\n")
        out.append("| Status | Meaning | Body |")
        out.append("|---|---|---|")
        for status, response in sorted(op.get("responses", {}).items()):
            bodies = [schema_name(c.get("schema", {})) for c in response.get("content", {}).values()]
            media = ", ".join(f"`{m}`" for m in response.get("content", {}) if m != "application/json")
            shown = " ".join(b for b in bodies if b != "any") or media
            out.append(f"| {status} | {cell(response.get('description', ''))} | {cell(shown)} |")
        out.append("")
    out.append("## Schemas\n")
    for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items()):
        out.append(f"### `{name}` {{ #schema-{name.lower()} }}\n")
        if schema.get("description"):
            out.append(schema["description"].replace("``", "`") + "\n")
        if "enum" in schema:
            out.append("One of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"]) + ".\n")
            continue
        properties = schema.get("properties", {})
        if not properties:
            continue
        required = set(schema.get("required", []))
        out.append("| Field | Type | Required | Default | Description |")
        out.append("|---|---|---|---|---|")
        for field, spec in properties.items():
            default = f"`{json.dumps(spec['default'])}`" if "default" in spec else ""
            out.append(
                f"| `{field}` | {cell(schema_name(spec))} | {'yes' if field in required else 'no'} | "
                f"{cell(default)} | {cell(spec.get('description', ''))} |"
            )
        out.append("")
    return "\n".join(out)


def iter_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, op


# -- the metrics reference --------------------------------------------------------------------------


def contract() -> tuple[dict[str, list[str]], dict[str, str]]:
    """The contract's rows by family name, and its bucket sets by name (``api = 0.01,...``)."""
    text = CONTRACT.read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if line.startswith("# Bucket sets")]
    sets = {
        name.strip(): bounds.strip() for name, bounds in (item.split("=") for item in line.split(":", 1)[1].split(";"))
    }
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    header, *body = rows
    if header != ["name", "type", "labels", "values", "buckets", "section"]:
        raise PluginError(f"{CONTRACT}: unexpected columns {header}")
    return {row[0]: row for row in body}, sets


def metrics_reference() -> str:
    from hal9.metrics import API_BUCKETS, MEMORY_BUCKETS, SIGNAL_BUCKETS
    from hal9.metrics import families as fam

    rows, sets = contract()
    code_sets = {"api": API_BUCKETS, "signal": SIGNAL_BUCKETS, "memory": MEMORY_BUCKETS}
    for name, bounds in sets.items():
        if tuple(float(b) for b in bounds.split(",")) != code_sets.get(name):
            raise PluginError(f"bucket set {name!r}: the contract and hal9.metrics.buckets differ")
    defined = [v for v in vars(fam).values() if isinstance(v, fam.Family)] + list(fam.GAUGES_NAMED_TOTAL.values())
    by_exposed: dict[str, fam.Family] = {}
    extensions: list[fam.Family] = []
    for family in defined:
        if family.name in rows:
            by_exposed[family.name] = family
        elif family.name + "_total" in rows:
            by_exposed[family.name + "_total"] = family
        else:
            extensions.append(family)
    missing = sorted(set(rows) - set(by_exposed))
    if missing:
        raise PluginError(f"contract families with no entry in hal9.metrics.families: {missing}")
    out = [f"All {len(rows)} families of the contract, by the section that feeds them.\n"]
    sections: dict[str, list[str]] = {}
    for name, row in rows.items():
        sections.setdefault(row[5], []).append(name)
    for section, names in sections.items():
        out.append(f"## {section}\n")
        out.append("| Family | Type | Labels | Meaning |")
        out.append("|---|---|---|---|")
        for name in names:
            _, kind, _labels, values, buckets, _ = rows[name]
            family = by_exposed[name]
            if _labels != ("-" if not family.labels else ",".join(family.labels)):
                raise PluginError(f"{name}: labels differ between the contract and hal9.metrics.families")
            labels = ", ".join(f"`{label}`" for label in family.labels) or "none"
            meaning = family.help + "."
            if values != "-":
                fixed = "; ".join(
                    f"`{label}`: " + ", ".join(f"`{v}`" for v in allowed.split("|"))
                    for label, allowed in (item.split("=") for item in values.split(";"))
                )
                meaning += f" Values include {fixed}."
            if buckets != "-":
                meaning += f" Buckets (s): {sets[buckets].replace(',', ', ')}."
            out.append(f'| <a id="{name}"></a>`{name}` | {kind} | {labels} | {cell(meaning)} |')
        out.append("")
    if extensions:
        out.append("## Your own services\n")
        out.append(
            "Not in the contract: registered only when a service of your own (a `hal9.runtime.Service` "
            "subclass) measures operations.\n"
        )
        out.append("| Family | Labels | Meaning |")
        out.append("|---|---|---|")
        for family in extensions:
            labels = ", ".join(f"`{label}`" for label in family.labels) or "none"
            out.append(f"| `{family.name}` (`_total` if a counter) | {labels} | {cell(family.help)}. |")
        out.append("")
    return "\n".join(out)


# -- the command line ------------------------------------------------------------------------------


def help_text(argv: list[str]) -> str:
    from hal9.cli import main

    buffer = io.StringIO()
    # argparse wraps to the terminal's width: 80 columns, wherever the site is built.
    columns = mock.patch.dict(os.environ, {"COLUMNS": "80"})
    with columns, contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    return buffer.getvalue()


def cli_reference() -> str:
    out: list[str] = []

    def walk(argv: list[str]) -> None:
        text = help_text(argv)
        out.append(f"### `hal9{''.join(' ' + a for a in argv)}`\n")
        out.append("```text\n" + text.rstrip() + "\n```\n")
        usage = " ".join(text.split("\n\n", 1)[0].split())
        # Subcommands show in the usage as "{a,b,c} ..." (option choices have no "...").
        choices = re.search(r"\{([a-z0-9_,-]+)\} \.\.\.", usage)
        if choices and len(argv) < 3:
            for sub in choices.group(1).split(","):
                walk([*argv, sub])

    walk([])
    return "\n".join(out)


# -- roles -------------------------------------------------------------------------------------------


def roles_reference() -> str:
    from hal9.auth.permissions import ROLE_PERMISSIONS, Permission, Role

    roles = list(Role)
    out = ["| Permission | " + " | ".join(f"`{role.value}`" for role in roles) + " |"]
    out.append("|---|" + "---|" * len(roles))
    for permission in Permission:
        marks = " | ".join("yes" if permission in ROLE_PERMISSIONS[role] else "" for role in roles)
        out.append(f"| `{permission.value}` | {marks} |")
    return "\n".join(out) + "\n"


# -- monitoring --------------------------------------------------------------------------------------


def monitoring_reference() -> str:
    """The alerts, recording rules and dashboards that ship in ``hal9/monitoring``."""
    import yaml

    folder = ROOT / "hal9" / "monitoring"
    out = ["### Alerts\n", "| Alert | Severity | For | Expression | Description |", "|---|---|---|---|---|"]
    alerts = yaml.safe_load((folder / "rules" / "alerts.yml").read_text(encoding="utf-8"))
    for group in alerts["groups"]:
        for rule in group["rules"]:
            expr = " ".join(rule["expr"].split())
            out.append(
                f"| `{rule['alert']}` | {rule['labels']['severity']} | {rule.get('for', '')} | "
                f"`{cell(expr)}` | {cell(rule['annotations']['description'])} |"
            )
    out += ["", "### Recording rules\n", "| Rule | Expression |", "|---|---|"]
    recording = yaml.safe_load((folder / "rules" / "recording.yml").read_text(encoding="utf-8"))
    for group in recording["groups"]:
        for rule in group["rules"]:
            out.append(f"| `{rule['record']}` | `{cell(' '.join(rule['expr'].split()))}` |")
    out += ["", "### Dashboards\n", "| Dashboard | File | Panels |", "|---|---|---|"]
    for path in sorted((folder / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        panels = [p for p in board.get("panels", []) if p.get("type") != "row"]
        titles = ", ".join(p.get("title", "") for p in panels)
        out.append(f"| {board['title']} | `{path.name}` | {cell(titles)} |")
    return "\n".join(out) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "monitoring": monitoring_reference,
    "roles": roles_reference,
    "config": config_reference,
    "http-api": http_reference,
    "metrics": metrics_reference,
    "cli": cli_reference,
}
