"""The shell tool: the command corpus, a scrubbed environment, output caps and process-group kills."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import anyio
import psutil
import pytest

from hal9 import Layer
from hal9.config import LayerTools, ToolsConfig
from hal9.tools import ToolError, shell
from hal9.tools.shell import SAFE_PATH, ShellSandbox, landlock_abi
from tests.tools.helpers import invocations, tool_service, violations

SECRET = "the secret outside the sandbox"
L2 = Layer.L2

#: Shells, interpreters, wrappers, metacharacters, paths out, and allowed commands with dangerous flags.
COMMANDS = [
    ["sh", "-c", "cat /etc/passwd"],
    ["bash", "-c", "id"],
    ["env"],
    ["env", "cat", "/etc/passwd"],
    ["xargs", "id"],
    ["timeout", "1", "id"],
    ["curl", "http://example.com"],
    ["nc", "-l", "4444"],
    ["python3", "-c", "print(open('/etc/passwd').read())"],
    ["perl", "-e", "system('id')"],
    ["/bin/cat", "notes.txt"],
    ["../bin/ls"],
    ["./ls"],
    ["ls; cat /etc/passwd"],
    ["ls && id"],
    ["ls|id"],
    ["$(id)"],
    ["`id`"],
    ["cat\x00", "x"],
    ["rm", "-rf", "."],
    ["cat", "../secret.txt"],
    ["cat", "/etc/passwd"],
    ["cat", "~/.ssh/id_rsa"],
    ["cat", "sub/../../secret.txt"],
    ["cat", "escape/secret.txt"],
    ["cat", "notes.txt\x00"],
    ["cat", "--", "../secret.txt"],
    ["grep", "-f../secret.txt", "notes.txt"],
    ["grep", "--file=/etc/passwd", "notes.txt"],
    ["wc", "--files0-from=notes.txt"],
    ["ls", "-la", "/"],
    ["ls", "--directory=/etc"],
    ["ls", "-lL"],
    ["find", "/", "-name", "passwd"],
    ["find", ".", "-exec", "cat", "{}", ";"],
    ["find", ".", "-execdir", "id", ";"],
    ["find", ".", "-delete"],
    ["find", "-L", "."],
    ["grep", "-R", "secret", "."],
    ["grep", "-rR", "secret", "."],
    ["sort", "--compress-program=sh", "notes.txt"],
    ["sort", "-o", "notes.txt", "notes.txt"],
    ["tar", "--to-command=sh", "-xf", "a.tar"],
    ["tar", "-xIsh", "-f", "a.tar"],
    ["tar", "-C", "/", "-xf", "a.tar"],
    ["sed", "-n", "1e id", "notes.txt"],
    ["sed", "s/x/id/e", "notes.txt"],
    ["sed", "-i", "s/a/b/", "notes.txt"],
    ["sed", "w /tmp/out", "notes.txt"],
    ["awk", 'BEGIN{system("id")}'],
    ["awk", '{print > "/tmp/x"}', "notes.txt"],
    ["awk", '{ "id" | getline x }'],
    ["awk", "-f", "script.awk"],
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET)
    sandbox = tmp_path / "root"
    (sandbox / "sub").mkdir(parents=True)
    (sandbox / "notes.txt").write_text("a\nb\n")
    (sandbox / "escape").symlink_to(tmp_path / "outside")
    return sandbox


@pytest.mark.anyio
@pytest.mark.parametrize("argv", COMMANDS, ids=repr)
async def test_a_forbidden_command_never_runs_and_is_counted(root: Path, argv: list[str]) -> None:
    async with tool_service(root) as service:
        output = await service.call("shell", {"argv": argv}, layer=L2)
        assert output.is_error
        assert "forbidden_command" in output.text
        assert SECRET not in output.text
        assert violations(service, "shell", "forbidden_command") == 1
        assert invocations(service, "shell", "error") == 1
    assert sorted(os.listdir(root)) == ["escape", "notes.txt", "sub"]


@pytest.mark.anyio
async def test_an_allowed_command_runs_in_the_root_without_a_shell(root: Path) -> None:
    async with tool_service(root) as service:
        listing = await service.call("shell", {"argv": ["ls"]}, layer=L2)
        literal = await service.call("shell", {"argv": ["echo", "$HOME", "*", "a;b"]}, layer=L2)
        counted = await service.call("shell", {"argv": ["wc", "-l", "notes.txt"]}, layer=L2)
        failing = await service.call("shell", {"argv": ["cat", "missing.txt"]}, layer=L2)
        assert invocations(service, "shell", "success") == 4
    assert listing.text.splitlines()[:2] == ["exit code: 0", "stdout:"]
    assert {"notes.txt", "sub", "escape"} <= set(listing.text.split())
    assert "$HOME * a;b" in literal.text  # no expansion: there is no shell
    assert "2 notes.txt" in counted.text
    assert "exit code: 1" in failing.text
    assert "No such file" in failing.text


@pytest.mark.anyio
async def test_the_child_environment_holds_no_secrets(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-very-secret")
    async with tool_service(root) as service:
        output = await service.call("shell", {"argv": ["printenv"]}, layer=L2)
    assert not output.is_error
    assert "very-secret" not in output.text
    names = {line.split("=", 1)[0] for line in output.text.splitlines() if "=" in line}
    assert names == {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    assert f"HOME={root}" in output.text


@pytest.mark.anyio
async def test_output_is_cut_at_the_cap_and_the_command_stopped(root: Path) -> None:
    async with tool_service(root, shell_max_output_bytes=1000) as service:
        output = await service.call("shell", {"argv": ["yes"]}, layer=L2)
    assert not output.is_error
    assert "(output cut at the limit)" in output.text
    stdout = output.text.split("stdout:\n", 1)[1].split("\nstderr:", 1)[0]
    assert len(stdout) == 1000


@pytest.mark.anyio
async def test_a_command_over_its_time_kills_its_whole_process_group(tmp_path: Path) -> None:
    """A grandchild the command started in the background is killed with it."""
    root = tmp_path / "root"
    # A forked subshell, not a program: a confined command may execute nothing but itself.
    spawner = "#!/bin/sh\n( while :; do :; done ) &\necho $! > child.pid\necho started\nwait\n"
    bin_dir = install(root, "spawner", spawner)
    sandbox = ShellSandbox(root, ["spawner"], timeout=0.5, max_output_bytes=1000, search_path=f"{bin_dir}:{SAFE_PATH}")
    with pytest.raises(ToolError, match="ran out of time"):
        await sandbox.run(["spawner"])
    child = int((root / "child.pid").read_text())
    # SIGKILL went to the whole group: the grandchild's pidfd becomes readable once it has exited.
    try:
        pidfd = os.pidfd_open(child)
    except ProcessLookupError:
        return  # already exited and reaped
    try:
        with anyio.fail_after(5):
            await anyio.wait_readable(pidfd)
    finally:
        os.close(pidfd)


@pytest.mark.anyio
async def test_a_call_over_the_call_timeout_is_an_error_and_its_command_is_stopped(root: Path) -> None:
    """The service's end-to-end limit, below the shell's own, ends the call and the command with it."""
    async with tool_service(root, call_timeout=0.5, shell_timeout=30) as service:
        with anyio.fail_after(10):
            slow = await service.call("shell", {"argv": ["sleep", "29"]}, layer=L2)
        left = [child.cmdline() for child in psutil.Process().children(recursive=True)]
        after = await service.call("shell", {"argv": ["echo", "still", "served"]}, layer=L2)
    assert slow.is_error
    assert "took longer than 0.5s" in slow.text
    assert not any("sleep" in " ".join(cmdline) for cmdline in left)
    assert not after.is_error
    assert "still served" in after.text
    assert invocations(service, "shell", "error") == 1
    assert invocations(service, "shell", "success") == 1


def test_a_config_cannot_allow_a_shell_or_a_path() -> None:
    for command in ("sh", "bash", "env", "curl", "/bin/ls", "ls "):
        with pytest.raises(ValueError, match=r"cannot be allowed|bare command"):
            LayerTools(tools=("shell",), commands=(command,))


@pytest.mark.anyio
async def test_a_layer_without_the_shell_tool_is_refused_as_forbidden_tool(root: Path) -> None:
    async with tool_service(root, tools=("file_read",)) as service:
        output = await service.call("shell", {"argv": ["ls"]}, layer=L2)
        assert output.is_error
        assert "forbidden_tool" in output.text
        assert violations(service, "shell", "forbidden_tool") == 1
        assert [tool.name for tool in await service.definitions(L2)] == ["file_read"]
    assert sorted(os.listdir(root)) == ["escape", "notes.txt", "sub"]


def install(root: Path, name: str, script: str) -> Path:
    """Put an executable script in root/bin (inside the root: a confined command may run only from there)."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / name).write_text(script)
    (bin_dir / name).chmod(0o755)
    return bin_dir


#: What a command might do whatever the argument checks saw: its own file reads, writes and connections.
ESCAPE = """#!/bin/bash
cat {secret} && echo READ-OUTSIDE
echo x > {outside} && echo WROTE-OUTSIDE
echo hi > /dev/tcp/127.0.0.1/{port} && echo CONNECTED
echo inside > inside.txt && echo WROTE-INSIDE
"""


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "off"])
async def test_landlock_confines_what_a_command_does_beyond_its_arguments(tmp_path: Path, mode: str) -> None:
    """With Landlock, a command cannot read or write outside the root, nor connect; without, only argv is checked."""
    if landlock_abi() < 4:
        pytest.skip("this kernel has no Landlock with network rules (ABI 4+)")
    root = tmp_path / "root"
    (tmp_path / "secret.txt").write_text(SECRET)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        script = ESCAPE.format(secret=tmp_path / "secret.txt", outside=tmp_path / "outside.txt", port=port)
        bin_dir = install(root, "escape", script)
        sandbox = ShellSandbox(
            root, ["escape"], timeout=10, max_output_bytes=10_000, search_path=f"{bin_dir}:{SAFE_PATH}", landlock=mode
        )
        result = await sandbox.run(["escape"])
        listener.setblocking(False)
        try:
            listener.accept()[0].close()
            connected = True
        except BlockingIOError:
            connected = False
    assert "WROTE-INSIDE" in result.stdout
    assert (root / "inside.txt").read_text() == "inside\n"
    if mode == "auto":
        assert sandbox.confined
        assert SECRET not in result.stdout
        assert "READ-OUTSIDE" not in result.stdout
        assert "WROTE-OUTSIDE" not in result.stdout
        assert "CONNECTED" not in result.stdout
        assert not (tmp_path / "outside.txt").exists()
        assert not connected
        assert "Permission denied" in result.stderr
    else:
        assert not sandbox.confined
        assert "READ-OUTSIDE" in result.stdout  # what Landlock stops in the other case
        assert connected


@pytest.mark.anyio
async def test_without_confinement_the_shell_refuses_to_run_unless_the_config_accepts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell, "landlock_abi", lambda: 0)
    sandbox = ShellSandbox(tmp_path, ["echo"], timeout=5, max_output_bytes=100, landlock="required")
    with pytest.raises(ToolError, match="cannot confine"):
        await sandbox.run(["echo", "hi"])
    # No confinement, no shell by default: auto refuses too.
    default = ShellSandbox(tmp_path, ["echo"], timeout=5, max_output_bytes=100, landlock="auto")
    assert not default.confined
    with pytest.raises(ToolError, match="cannot confine"):
        await default.run(["echo", "hi"])
    assert not (tmp_path / "hi").exists()
    # Only a configuration that says so runs commands unconfined.
    accepted = ShellSandbox(tmp_path, ["echo"], timeout=5, max_output_bytes=100, landlock="off")
    assert (await accepted.run(["echo", "hi"])).stdout == "hi\n"


def test_a_config_that_runs_commands_unconfined_cannot_allow_programs_that_run_others() -> None:
    wide = LayerTools(tools=("shell",), commands=("ls", "sed", "tar"))
    assert ToolsConfig(layers={Layer.L2: wide}).shell_landlock == "auto"  # confined: allowed
    with pytest.raises(ValueError, match=r"layers\.L2\.commands: \['sed', 'tar'\] can run other programs"):
        ToolsConfig(layers={Layer.L2: wide}, shell_landlock="off")
    with pytest.raises(ValueError, match=r"mcp\.commands"):
        ToolsConfig(mcp=LayerTools(tools=("shell",), commands=("find",)), shell_landlock="off")
    assert ToolsConfig(layers={Layer.L2: LayerTools(tools=("shell",), commands=("ls", "cat"))}, shell_landlock="off")
