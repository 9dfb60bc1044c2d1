"""The C allocator's arenas, capped for a long-running server (glibc only)."""

from __future__ import annotations

import ctypes
import os
import platform

#: glibc's ``mallopt`` parameter for the most arenas (``M_ARENA_MAX``).
_M_ARENA_MAX = -8
#: Arenas a server keeps: glibc's default is eight per core, one per thread that allocates at once.
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas (unless ``MALLOC_ARENA_MAX`` is set); whether the cap was set.

    Native code running in worker threads (the search index's searches and commits, SQLite)
    allocates from a per-thread arena, and each arena keeps what it freed: with the default
    cap a server's resident memory grows by tens of MiB under a burst before it levels off.
    Call it before the server starts its threads.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
