"""The shell tool: an argv from an allow list, run without a shell, inside the root, bounded.

Checks on the argv come first, always: the command must be a bare name on the allow list
(and never a shell, a wrapper or a network client); an argument that names a path outside
the root (absolute, ``..``, ``~``, a symlink leading out) is refused; flags that make an
allowed command run other programs (``find -exec``, ``tar --to-command``, ``sort
--compress-program``...) are refused. All of these are ``forbidden_command``. The command
is then confined by the kernel (:mod:`hal9.tools.landlock`), whatever its arguments make it
do: it can read the system's programs, use only the root, execute nothing but its own
program, and open no socket. Where the kernel cannot confine (no Landlock, or no socket
filter for the architecture) the shell refuses to run, unless the configuration accepts
unconfined commands (``tools.shell_landlock = "off"``): a deny-list of flags cannot hold a
boundary on its own. The child gets a scrubbed environment, the root as cwd and HOME, its
own process group (killed whole at the time limit) and capped output.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import anyio
from anyio.abc import ByteReceiveStream, Process

from hal9.config import NEVER_ALLOWED_COMMANDS
from hal9.errors import SandboxViolation, ToolError
from hal9.tools import landlock
from hal9.tools.flags import FlagRefused, check_flags

LANDLOCK_SCRIPT = str(Path(landlock.__file__).resolve())
MAX_ARGS = 64
MAX_ARG_CHARS = 4096
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Flags by which an allowed command would run another program, write outside, or follow links out.
DANGEROUS_FLAGS: dict[str, tuple[str, ...]] = {
    "find": ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls", "-L"),
    "tar": (
        "--to-command",
        "--use-compress-program",
        "-I",
        "--checkpoint-action",
        "--info-script",
        "-F",
        "--new-volume-script",
        "--rsh-command",
        "-C",
        "--directory",
    ),
    "git": (
        "-c",
        "--config-env",
        "--exec-path",
        "--upload-pack",
        "--receive-pack",
        "-C",
        "--git-dir",
        "--work-tree",
        "--output",
    ),
    "sort": ("--compress-program", "-o", "--output", "-T", "--temporary-directory", "--files0-from"),
    "rg": ("--pre", "--pre-glob", "-L", "--follow"),
    "grep": ("-R", "--dereference-recursive"),
    "ls": ("-L", "--dereference"),
    "cp": ("-L", "--dereference"),
    "less": ("-o", "--log-file"),
    "man": ("-P", "--pager", "-H", "--html"),
    "zip": ("-T", "--test", "-TT", "--unzip-command"),
    "rsync": ("-e", "--rsh"),
    "awk": ("-f",),
    # Names of files to read, taken from a file: they are never checked.
    "wc": ("--files0-from",),
    "du": ("-L", "--dereference", "--files0-from"),
    "sed": ("-f", "--file", "-i", "--in-place"),
}
#: GNU sed's 'e' command and 'w'/'W' flags run or write: refuse scripts using them outright.
_SED_EXEC = re.compile(r"(^|[;\n}])\s*[0-9,$/!]*\s*[eWw]\b|/[gpIiMm0-9]*[ew]\b")
_AWK_EXEC = re.compile(r"\bsystem\s*\(|\|\s*getline|\bprint[f]?\b[^;]*[|>]")
_INTERPRETERS = re.compile(r"^(python[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|php[0-9.]*|lua[0-9.]*|tclsh|wish)$")


@dataclass(frozen=True, slots=True)
class ShellResult:
    """What a command did: exit status, output (cut at the cap), and whether it was cut."""

    exit_code: int
    stdout: str
    stderr: str
    truncated: bool

    def as_text(self) -> str:
        note = "\n(output cut at the limit)" if self.truncated else ""
        return f"exit code: {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}{note}"


def _forbidden(message: str) -> SandboxViolation:
    return SandboxViolation("forbidden_command", message)


class ShellSandbox:
    """Runs allowed commands below ``root``.

    Args:
        root: the working folder; arguments may not name paths outside it.
        commands: the allow list (bare names).
        timeout: seconds before the whole process group is killed.
        max_output_bytes: kept of stdout and of stderr each.
        search_path: where commands are looked up (the child's PATH too).
        landlock: confine by the kernel and refuse to run where it cannot (auto, or its older
            name required), or never (off: the configuration accepts unconfined commands,
            with the argument checks only).
        protected: folders inside the root that arguments may not name (HAL9's data folder;
            a recursive command run on a parent folder still walks through it).
    """

    def __init__(
        self,
        root: Path,
        commands: Sequence[str],
        *,
        timeout: float,
        max_output_bytes: int,
        search_path: str = SAFE_PATH,
        landlock: Literal["auto", "required", "off"] = "auto",
        protected: tuple[Path, ...] = (),
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.commands = frozenset(commands) - NEVER_ALLOWED_COMMANDS
        self.timeout = timeout
        self.max_output_bytes = max_output_bytes
        self.search_path = search_path
        self.landlock = landlock
        self.protected = tuple(os.path.realpath(folder) for folder in protected)

    @property
    def confined(self) -> bool:
        """Whether commands run confined by the kernel (Landlock, and a socket filter for this architecture)."""
        return self.landlock != "off" and landlock_abi() > 0 and landlock.can_forbid_sockets()

    def check(self, argv: Sequence[str]) -> str:
        """The executable ``argv`` runs, or a violation; nothing is run.

        Raises:
            SandboxViolation: forbidden_command.
            ToolError: a malformed argv.
        """
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise ToolError("argv must be a non-empty list of strings")
        if len(argv) > MAX_ARGS or any(len(arg) > MAX_ARG_CHARS for arg in argv):
            raise ToolError(f"argv is limited to {MAX_ARGS} arguments of {MAX_ARG_CHARS} characters")
        command = argv[0]
        if "\x00" in command or "/" in command or "\\" in command:
            raise _forbidden(f"{command[:100]!r}: give a bare command name from the allow list, not a path")
        if command in NEVER_ALLOWED_COMMANDS or command not in self.commands:
            allowed = ", ".join(sorted(self.commands)) or "none"
            raise _forbidden(f"{command[:100]!r} is not on this layer's allow list (allowed: {allowed})")
        for arg in argv[1:]:
            self._check_argument(command, arg)
        if self.landlock == "off":
            # Unconfined, nothing but the arguments stands in the way: every flag must be on the command's list.
            try:
                check_flags(command, argv[1:])
            except FlagRefused as exc:
                raise _forbidden(str(exc)) from None
        if command in ("sed", "awk", "gawk") or _INTERPRETERS.match(command):
            self._check_script(command, argv[1:])
        executable = shutil.which(command, path=self.search_path)
        if executable is None:
            raise ToolError(f"{command!r} is allowed but not installed")
        return executable

    def _check_argument(self, command: str, arg: str) -> None:
        if "\x00" in arg:
            raise _forbidden("an argument holds a NUL byte")
        flag, _, value = arg.partition("=")
        short_group = arg[1:] if arg.startswith("-") and not arg.startswith("--") and command != "find" else ""
        for dangerous in DANGEROUS_FLAGS.get(command, ()):
            # '-exec', '--to-command=x', and a short flag anywhere in a group ('-lL', '-xzIcmd').
            if flag == dangerous or (len(dangerous) == 2 and dangerous[1] in short_group):
                raise _forbidden(f"{command} {dangerous} is not allowed (it runs, writes or follows links outside)")
        candidates = [arg, value] if value else [arg]
        if short_group:
            candidates.append(arg[2:])  # a short flag glued to its value: '-f../x', '-I/etc'
        for text in candidates:
            if text.startswith(("/", "~")) or any(part == ".." for part in re.split(r"[/\\]", text)):
                raise _forbidden(f"the argument {text[:200]!r} names a path outside the sandbox folder")
            target = self.root / text
            if text and os.path.lexists(target):
                real = os.path.realpath(target)
                if real != str(self.root) and not real.startswith(str(self.root) + os.sep):
                    raise _forbidden(f"the argument {text[:200]!r} leads outside the sandbox folder (symlink)")
                if any(real == folder or real.startswith(folder + os.sep) for folder in self.protected):
                    raise _forbidden(f"the argument {text[:200]!r} names HAL9's own data folder")

    def _check_script(self, command: str, args: Sequence[str]) -> None:
        if _INTERPRETERS.match(command):
            # An interpreter's code can open any path: only with OS confinement could it be allowed.
            raise _forbidden(f"{command} runs arbitrary code, which this machine cannot confine")
        pattern = _SED_EXEC if command == "sed" else _AWK_EXEC
        for arg in args:
            if not arg.startswith("-") and pattern.search(arg):
                raise _forbidden(f"{command} scripts that run commands or write files are not allowed")

    async def run(self, argv: Sequence[str]) -> ShellResult:
        """Check ``argv``, then run it; the result once it exits or is killed at the time limit.

        Raises:
            SandboxViolation: forbidden_command (nothing ran).
            ToolError: a malformed argv, or the command ran out of time (its process group was killed).
        """
        # The checks look at the file system (symlinks): off the event loop.
        executable = await anyio.to_thread.run_sync(self.check, argv)
        await anyio.to_thread.run_sync(lambda: self.root.mkdir(parents=True, exist_ok=True))
        env = {
            "PATH": self.search_path,
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TMPDIR": str(self.root),
        }
        command = [executable, *argv[1:]]
        if self.confined:
            # The launcher confines itself, then execs the command: -I -S, so no user site or
            # environment variable changes what runs before the confinement.
            command = [sys.executable, "-I", "-S", LANDLOCK_SCRIPT, str(self.root), "--", *command]
        elif self.landlock != "off":
            raise ToolError(
                "this machine cannot confine commands (no Landlock, or no socket filter for its architecture), "
                'so the shell does not run them; tools.shell_landlock = "off" accepts unconfined commands'
            )
        process = await anyio.open_process(
            command,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            env=env,
            start_new_session=True,  # its own process group, killed whole
        )
        outputs: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        cut = False

        async def drain(name: str, stream: ByteReceiveStream | None) -> None:
            nonlocal cut
            if stream is None:
                return
            buffer = outputs[name]
            async for chunk in stream:
                room = self.max_output_bytes - len(buffer)
                buffer.extend(chunk[: max(0, room)])
                if len(chunk) > room:
                    cut = True
                    _kill_group(process)
                    return

        timed_out = False
        try:
            with anyio.move_on_after(self.timeout) as scope:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(drain, "stdout", process.stdout)
                    tasks.start_soon(drain, "stderr", process.stderr)
                await process.wait()
            timed_out = scope.cancelled_caught
        finally:
            # Also on cancellation: nothing the command started outlives the call.
            _kill_group(process)
            with anyio.CancelScope(shield=True):
                await process.wait()
                await process.aclose()
        if timed_out:
            raise ToolError(f"{argv[0]} ran out of time after {self.timeout:g}s; its process group was killed")
        return ShellResult(
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=outputs["stdout"].decode("utf-8", errors="replace"),
            stderr=outputs["stderr"].decode("utf-8", errors="replace"),
            truncated=cut,
        )


@cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, asked once per process (0: none)."""
    return landlock.abi_version()


def _kill_group(process: Process) -> None:
    # Already gone: nothing left in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
