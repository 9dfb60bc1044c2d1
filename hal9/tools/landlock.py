"""Confine a command with Landlock (Linux 5.13+), then exec it: the shell tool's OS sandbox.

Run as a script between the fork and the command (``python -I -S landlock.py ROOT -- CMD
ARGS...``): it restricts itself, and so everything it execs, to reading and executing the
system's program folders (``/usr``, ``/bin``, ``/lib``...) and a few files of ``/etc`` the C
library needs, full access below ``ROOT``, ``/dev/null`` and the random devices; where the
kernel's Landlock ABI allows (4+) no TCP bind or connect at all, and (6+) no signals to, nor
abstract sockets of, processes outside. Nothing is inherited that could undo it
(``no_new_privs``). Standard library only: it runs with ``-I -S``, before any HAL9 import.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every Linux architecture
_VERSION_FLAG = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

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


def restrict(root: str) -> None:
    """Confine this process (and what it execs) to ``root`` and the system's programs.

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
        read_only = (EXECUTE | READ_FILE | READ_DIR) & handled
        for folder in SYSTEM_FOLDERS:
            _allow(syscall, ruleset, folder, read_only)
        for path in SYSTEM_FILES:
            _allow(syscall, ruleset, path, (EXECUTE | READ_FILE) & handled)
        for device, rights in DEVICES.items():
            _allow(syscall, ruleset, device, rights & handled)
        _allow(syscall, ruleset, root, handled, required=True)
        _check(ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict_self")
    finally:
        os.close(ruleset)


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
        restrict(root)
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
