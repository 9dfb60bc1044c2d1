"""Confine a command by the kernel, then exec it: the shell tool's OS sandbox.

Run as a script between the fork and the command (``python -I -S landlock.py ROOT -- CMD
ARGS...``). It restricts itself, and so everything it execs, whatever the command's arguments:

- **Files** (Landlock, Linux 5.13+): reading the system's program folders (``/usr``, ``/bin``,
  ``/lib``...) and a few files of ``/etc`` the C library needs, full access below ``ROOT``,
  ``/dev/null`` and the random devices; nothing else (not ``/proc``, not the user's home).
- **Exec** (Landlock): only the command's own program may be executed, with its ELF
  interpreter (the dynamic loader) or, for a script, its ``#!`` interpreter. A sed ``e``, a
  tar ``--to-command``, an awk ``system()`` or a ``find -exec`` fail at exec.
- **Network**: no socket at all (a seccomp filter makes ``socket()`` fail), and, where user
  namespaces are allowed, a network namespace of its own with no interface up; Landlock (ABI
  4+) also refuses TCP bind and connect, and (6+) signals to, and abstract sockets of,
  processes outside.

Nothing is inherited that could undo it (``no_new_privs``). Standard library only: it runs
with ``-I -S``, before any HAL9 import.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys
from collections.abc import Callable

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every Linux architecture
_VERSION_FLAG = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_PT_INTERP = 3
#: classic BPF: load a word of seccomp_data, compare, return.
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_SECCOMP_RET_KILL_PROCESS, _SECCOMP_RET_ERRNO, _SECCOMP_RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_X32_SYSCALL_BIT = 0x40000000
#: The audit architecture and the number of socket() for the architectures the filter knows.
_SOCKET_SYSCALL = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_FS = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV

#: Folders whose programs and libraries a command may read and run.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Files of /etc the C library and coreutils read (dynamic linking, users, time zone, locale).
SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/locale.alias",
)
#: Devices a command may read (and, for /dev/null, write).
DEVICES = {"/dev/null": READ_FILE | WRITE_FILE | _TRUNCATE, "/dev/urandom": READ_FILE, "/dev/random": READ_FILE}


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _syscall() -> Callable[..., int]:
    libc = ctypes.CDLL(None, use_errno=True)
    function: Callable[..., int] = libc.syscall
    function.restype = ctypes.c_long  # type: ignore[attr-defined]  # a ctypes function, typed as a plain callable
    return function


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = int(_syscall()(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION_FLAG)))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def _handled_fs(abi: int) -> int:
    rights = _ABI1_FS
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"landlock {what}: {os.strerror(error)}")
    return result


def restrict(root: str, executable: str) -> None:
    """Confine this process (and what it execs) to ``root``, reading the system's programs and executing ``executable``.

    Raises:
        OSError: Landlock is missing or refused the ruleset.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    syscall = _syscall()
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP  # handled with no rule: all refused
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL
        size = 24
    ruleset = _check(
        syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)), "create_ruleset"
    )
    try:
        read_only = (READ_FILE | READ_DIR) & handled
        for folder in SYSTEM_FOLDERS:
            _allow(syscall, ruleset, folder, read_only)
        for path in SYSTEM_FILES:
            _allow(syscall, ruleset, path, READ_FILE & handled)
        for device, rights in DEVICES.items():
            _allow(syscall, ruleset, device, rights & handled)
        # Everything below the root but running what lies there: a program written there is not the allowed one.
        _allow(syscall, ruleset, root, handled & ~EXECUTE, required=True)
        for program in executables(executable):
            _allow(syscall, ruleset, program, (EXECUTE | READ_FILE) & handled, required=True)
        _check(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)


def executables(executable: str) -> tuple[str, ...]:
    """``executable`` and what the kernel executes to run it: its ELF interpreter, or its ``#!`` interpreter's."""
    with open(executable, "rb") as file:
        head = file.read(4096)
    if head.startswith(b"#!"):
        interpreter = head[2:].split(b"\n", 1)[0].strip().split(maxsplit=1)
        if not interpreter:
            return (executable,)
        return (executable, *executables(os.fsdecode(interpreter[0])))
    loader = _elf_interpreter(executable, head)
    return (executable, loader) if loader else (executable,)


def _elf_interpreter(path: str, head: bytes) -> str | None:
    """The ``PT_INTERP`` path of a little-endian ELF file (64- or 32-bit); None for a static one."""
    if head[:4] != b"\x7fELF" or head[5] != 1:
        return None
    if head[4] == 2:  # ELF64: e_phoff at 32, e_phentsize and e_phnum at 54; p_offset at 8, p_filesz at 32
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        offset_at, size_at, word = 8, 32, "<Q"
    else:  # ELF32: e_phoff at 28, e_phentsize and e_phnum at 42; p_offset at 4, p_filesz at 16
        (phoff,) = struct.unpack_from("<I", head, 28)
        phentsize, phnum = struct.unpack_from("<HH", head, 42)
        offset_at, size_at, word = 4, 16, "<I"
    with open(path, "rb") as file:
        for index in range(phnum):
            file.seek(phoff + index * phentsize)
            entry = file.read(phentsize)
            if struct.unpack_from("<I", entry, 0)[0] != _PT_INTERP:
                continue
            (offset,) = struct.unpack_from(word, entry, offset_at)
            (size,) = struct.unpack_from(word, entry, size_at)
            file.seek(offset)
            return os.fsdecode(file.read(size).rstrip(b"\x00"))
    return None


def isolate_network() -> bool:
    """Enter a user and network namespace of its own: no interface up, nothing to reach. False if refused."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        return False
    # The same ids inside, so that files keep their owner.
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)
    return True


def can_forbid_sockets() -> bool:
    """Whether :func:`forbid_sockets` knows this architecture (the kernel's seccomp is taken as given)."""
    return sys.platform.startswith("linux") and platform.machine() in _SOCKET_SYSCALL


def forbid_sockets() -> None:
    """A seccomp filter: ``socket()`` fails with EACCES, for every address family.

    Raises:
        OSError: an architecture this filter does not know, or the kernel refused it.
    """
    known = _SOCKET_SYSCALL.get(platform.machine())
    if known is None:
        raise OSError(f"no socket filter for the {platform.machine()} architecture")
    arch, socket_nr = known
    program = [
        _bpf(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _bpf(_JEQ_K, 1, 0, arch),
        _bpf(_RET_K, 0, 0, _SECCOMP_RET_KILL_PROCESS),  # another ABI's numbers: never allowed
        _bpf(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _bpf(_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        _bpf(_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.EACCES),
        _bpf(_JEQ_K, 0, 1, socket_nr),
        _bpf(_RET_K, 0, 0, _SECCOMP_RET_ERRNO | errno.EACCES),
        _bpf(_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
    ]
    filters = (_SockFilter * len(program))(*program)
    fprog = _SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def _bpf(code: int, jt: int, jf: int, k: int) -> _SockFilter:
    return _SockFilter(code, jt, jf, k)


def _allow(syscall: Callable[..., int], ruleset: int, path: str, rights: int, *, required: bool = False) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        if required:
            raise
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS  # directory rights on a file are invalid
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _check(
            syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), 0),
            "add_rule",
        )
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """``landlock.py ROOT -- EXECUTABLE ARGS...``: confine, then exec (never returns on success)."""
    if len(argv) < 4 or argv[2] != "--":
        print("usage: landlock.py ROOT -- EXECUTABLE [ARGS...]", file=sys.stderr)  # noqa: T201 - a script's usage line
        return 2
    root, executable, args = argv[1], argv[3], argv[3:]
    try:
        isolate_network()  # where user namespaces are allowed; the socket filter holds either way
        restrict(root, executable)
        forbid_sockets()
    except OSError as exc:
        print(f"hal9 sandbox: cannot confine the command: {exc}", file=sys.stderr)  # noqa: T201 - the child's only channel
        return 126
    try:
        os.execv(executable, args)  # noqa: S606 - the argv was checked against the allow list by the parent
    except OSError as exc:
        print(f"hal9 sandbox: cannot run {executable}: {exc}", file=sys.stderr)  # noqa: T201 - as above
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))
