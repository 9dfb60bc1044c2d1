"""Files inside one root folder: checked paths, bounded reads, atomic writes.

A path is relative to the root and may not leave it. It is refused as ``path_traversal``
if it is absolute, has a ``..`` part, holds a NUL byte, or spells any of these in an
encoded form (percent-encoding, also doubled; overlong UTF-8; Unicode compatibility forms).
Then it is opened one component at a time below the root with ``O_NOFOLLOW``, so a symlink
is never followed: not by the check and not by a swap between check and use.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import unicodedata
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

import anyio.to_thread

from hal9.errors import SandboxViolation, ToolError

MAX_PATH_CHARS = 4096
MAX_COMPONENTS = 64
#: Overlong UTF-8 spellings of '.', '/' and '\\' that lenient decoders accept.
_OVERLONG = (b"\xc0\xae", b"\xc0\xaf", b"\xe0\x80\xae", b"\xe0\x80\xaf", b"\xc1\x9c", b"\xc1\x1c", b"\xc0\x2e")
_DRIVE = re.compile(r"^[A-Za-z]:")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _traversal(path: str, why: str) -> SandboxViolation:
    return SandboxViolation("path_traversal", f"{path[:200]!r} {why}")


def _lexical_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL byte"
    if text.startswith(("/", "\\", "~")) or _DRIVE.match(text):
        return "is absolute"
    if any(part == ".." for part in re.split(r"[/\\]", text)):
        return "leaves the root by '..'"
    return None


def split_relative(path: str) -> list[str]:
    """The components of ``path`` below the root, or a :class:`SandboxViolation`.

    Raises:
        SandboxViolation: path_traversal, for any way of leaving the root, spelled plainly or encoded.
        ToolError: the path is empty or too long.
    """
    if not isinstance(path, str) or not path.strip():
        raise ToolError("the path is empty")
    if len(path) > MAX_PATH_CHARS:
        raise ToolError(f"the path is longer than {MAX_PATH_CHARS} characters")
    forms = {path, unicodedata.normalize("NFKC", path)}
    decoded = path
    for _ in range(3):  # doubled and tripled percent-encoding
        decoded = unquote(decoded, errors="surrogateescape")
        forms |= {decoded, unicodedata.normalize("NFKC", decoded)}
    raw = unquote_to_bytes(unquote(path, errors="surrogateescape").encode("utf-8", "surrogateescape"))
    if any(pattern in raw for pattern in _OVERLONG):
        raise _traversal(path, "spells '.' or '/' in overlong UTF-8")
    for form in forms:
        problem = _lexical_problem(form)
        if problem is not None:
            encoded = "" if form == path else " (once decoded)"
            raise _traversal(path, problem + encoded)
    parts = [part for part in re.split(r"[/\\]", path) if part not in ("", ".")]
    if not parts:
        raise ToolError("the path names the root folder, not a file")
    if len(parts) > MAX_COMPONENTS:
        raise ToolError(f"the path has more than {MAX_COMPONENTS} components")
    return parts


class FileSandbox:
    """Reads and writes files below ``root`` (created if missing), never outside it.

    Args:
        root: the folder; symlinks in its own path are resolved once, here.
        max_read_bytes: larger files are refused by file_read.
        max_write_bytes: larger contents are refused by file_write.
        protected: folders inside the root the tools may not touch (HAL9's own data folder).
    """

    def __init__(
        self, root: Path, *, max_read_bytes: int, max_write_bytes: int, protected: tuple[Path, ...] = ()
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.protected = tuple(Path(os.path.realpath(folder)) for folder in protected)

    def _check_protected(self, path: str, parts: list[str]) -> None:
        target = self.root.joinpath(*parts)
        for folder in self.protected:
            if target == folder or folder in target.parents:
                raise ToolError(f"{path!r} is inside HAL9's own data folder, which the tools may not touch")

    async def read(self, path: str) -> str:
        """The text of the file at ``path`` (UTF-8; undecodable bytes replaced).

        Raises:
            SandboxViolation: path_traversal.
            ToolError: missing, not a regular file, or over the size limit.
        """
        parts = split_relative(path)
        self._check_protected(path, parts)
        return await anyio.to_thread.run_sync(self._read, path, parts)

    async def write(self, path: str, content: str) -> int:
        """Replace (or create) the file at ``path`` atomically; parent folders are created. Returns bytes written.

        Raises:
            SandboxViolation: path_traversal.
            ToolError: over the size limit, or an I/O error.
        """
        parts = split_relative(path)
        self._check_protected(path, parts)
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ToolError(f"the content is {len(data)} bytes, over the limit of {self.max_write_bytes}")
        await anyio.to_thread.run_sync(self._write, path, parts, data)
        return len(data)

    # -- in a worker thread ------------------------------------------------------------

    def _open_root(self, create: bool) -> int:
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(self.root, _DIR_FLAGS)
        except FileNotFoundError:
            raise ToolError("the sandbox folder does not exist yet (nothing was written)") from None

    def _walk(self, path: str, root_fd: int, folders: list[str], create: bool) -> int:
        """The descriptor of the folder ``folders`` names below the root, following no symlink."""
        fd = os.dup(root_fd)
        try:
            for name in folders:
                try:
                    next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise ToolError(f"{path!r}: no such file") from None
                    # Created meanwhile by another call: opened below like any folder.
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                    next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    self._classify(path, fd, name, exc)
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _classify(self, path: str, dir_fd: int, name: str, exc: OSError) -> None:
        """Turn an open() failure into a violation (a symlink) or a plain tool error; always raises."""
        try:
            is_link = stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
        except OSError:
            is_link = False
        if is_link or exc.errno == errno.ELOOP:
            raise _traversal(path, "goes through a symlink, which the sandbox never follows") from None
        if exc.errno == errno.ENOTDIR:
            raise ToolError(f"{path!r}: a part of the path is not a folder") from None
        if exc.errno == errno.EISDIR:
            raise ToolError(f"{path!r} is a folder, not a file") from None
        raise ToolError(f"{path!r}: {exc.strerror or exc}") from None

    def _read(self, path: str, parts: list[str]) -> str:
        root_fd = self._open_root(create=False)
        try:
            folder = self._walk(path, root_fd, parts[:-1], create=False)
        finally:
            os.close(root_fd)
        try:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=folder)
            except FileNotFoundError:
                raise ToolError(f"{path!r}: no such file") from None
            except OSError as exc:
                self._classify(path, folder, parts[-1], exc)
        finally:
            os.close(folder)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise ToolError(f"{path!r} is {'a folder' if stat.S_ISDIR(info.st_mode) else 'not a regular file'}")
        with os.fdopen(fd, "rb") as handle:
            if info.st_size > self.max_read_bytes:
                raise ToolError(f"{path!r} is {info.st_size} bytes, over the read limit of {self.max_read_bytes}")
            try:
                data = handle.read(self.max_read_bytes + 1)
            except OSError as exc:
                raise ToolError(f"{path!r}: {exc.strerror or exc}") from None
        if len(data) > self.max_read_bytes:  # it grew after the stat
            raise ToolError(f"{path!r} is over the read limit of {self.max_read_bytes} bytes")
        return data.decode("utf-8", errors="replace")

    def _write(self, path: str, parts: list[str], data: bytes) -> None:
        root_fd = self._open_root(create=True)
        try:
            folder = self._walk(path, root_fd, parts[:-1], create=True)
        finally:
            os.close(root_fd)
        name = parts[-1]
        temporary = f".{name[:100]}.{secrets.token_hex(6)}.tmp"
        try:
            try:
                existing = os.lstat(name, dir_fd=folder)
            except FileNotFoundError:
                existing = None
            if existing is not None and stat.S_ISLNK(existing.st_mode):
                raise _traversal(path, "is a symlink, which the sandbox never follows")
            if existing is not None and not stat.S_ISREG(existing.st_mode):
                raise ToolError(f"{path!r} exists and is not a regular file")
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=folder)
            except OSError as exc:
                raise ToolError(f"{path!r}: {exc.strerror or exc}") from None
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                # rename() replaces the name itself, never a target a symlink would point to.
                os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
                os.fsync(folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                raise
        except OSError as exc:
            raise ToolError(f"{path!r}: {exc.strerror or exc}") from None
        finally:
            os.close(folder)
