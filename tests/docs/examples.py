"""The shell examples of README.md and docs/getting-started.md, as the pages mark them.

Every fenced ``sh``, ``bash`` or ``console`` block of those pages is preceded by a marker line:

- ``<!-- example: run -->``: run as written, in order, in one folder, with the environment the
  blocks before it left (so ``source .venv/bin/activate`` and ``export API_KEY=...`` carry over);
- ``<!-- example: serve -->``: the command that starts the server; the test runs it in the
  background. A ``&&`` chain before it (an install) is left out: the suite's own virtualenv
  stands in for it, linked into the folder as ``.venv``;
- ``<!-- example: skip: REASON -->``: not run, for the reason given (the test reports it).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = (ROOT / "README.md", ROOT / "docs" / "getting-started.md")

SHELL_LANGUAGES = ("sh", "bash", "console")
#: A fenced block, also an indented one (in a list item or an admonition): its indent, language, text.
FENCE = re.compile(r"^([ \t]*)```([A-Za-z0-9_-]*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- example: (run|serve|skip)(?::\s*(.+?))?\s*-->\s*\Z")
#: The line that exports the key the first start prints; the test puts the real key in place of ``hal9_...``.
KEY_EXPORT = "export API_KEY=hal9_..."
#: The address the pages use; the test's server listens on a free port of 127.0.0.1 instead.
PAGE_ADDRESSES = ("localhost:8080", "127.0.0.1:8080")


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    kind: str  # run, serve or skip
    reason: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def examples(page: Path) -> list[Example]:
    """The page's shell blocks in order; a block without a marker is an error (every one must say)."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group(2) not in SHELL_LANGUAGES:
            continue
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        if marker is None:
            raise AssertionError(f"{page.name}:{line}: a shell block without an <!-- example: ... --> marker")
        kind, reason = marker.group(1), (marker.group(2) or "").strip()
        if kind == "skip" and not reason:
            raise AssertionError(f"{page.name}:{line}: a skipped example must say why")
        found.append(Example(page, line, kind, reason, textwrap.dedent(match.group(3))))
    return found


def serve_command(example: Example) -> str:
    """The command a serve block runs: its one command, without comments or an install chain before it."""
    lines = [line.split("#", 1)[0].strip() for line in example.code.splitlines()]
    commands = [line for line in lines if line]
    assert len(commands) == 1, f"{example.where}: a serve block holds one command"
    return commands[0].rsplit("&&", 1)[-1].strip()
