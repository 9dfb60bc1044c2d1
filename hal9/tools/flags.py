"""The flags a command may take when it runs unconfined: an allow list per command, parsed as GNU tools parse.

Only used where the configuration accepts unconfined commands (``tools.shell_landlock =
"off"``): with no kernel boundary, what a command may be asked to do is what its flags
allow, and a deny list of flags cannot be complete (GNU tools accept glued short options,
``-uf<path>``, and any unique prefix of a long option, ``--files0=``). So every option must be
on the command's list:

- short options, alone or grouped (``-ln``), each letter on the list; one that takes a value
  takes the rest of the group or the next argument (``-n5``, ``-n 5``) as that value;
- long options by their full name only, with ``=value`` or the next argument as the value of
  one that takes a value; an abbreviation is refused, since the tool would expand it to
  whichever option it names;
- ``--`` ends the options; what follows, and every argument that is not an option, is an
  operand (paths are checked by the sandbox as before).

A command without a list takes operands only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Flags:
    """One command's allowed options: short letters and long names, each split by whether it takes a value."""

    short: str = ""
    short_with_value: str = ""
    long: frozenset[str] = frozenset()
    long_with_value: frozenset[str] = frozenset()


def _long(*names: str) -> frozenset[str]:
    return frozenset(names)


#: The default ``hal9 mcp`` allow list's commands: options that only shape what they print.
ALLOWED_FLAGS: dict[str, Flags] = {
    "ls": Flags(short="1aAlhrRStdF", long=_long("all", "almost-all", "human-readable", "reverse", "recursive")),
    "cat": Flags(short="nbsAET", long=_long("number", "number-nonblank", "squeeze-blank", "show-all")),
    "head": Flags(short="qv", short_with_value="nc", long=_long("quiet", "verbose"), long_with_value=_long("lines")),
    "tail": Flags(short="qv", short_with_value="nc", long=_long("quiet", "verbose"), long_with_value=_long("lines")),
    "wc": Flags(short="lwcmL", long=_long("lines", "words", "bytes", "chars", "max-line-length")),
    "grep": Flags(
        short="inviwxcrlLhHoFEqs",
        short_with_value="mABC",
        long=_long("ignore-case", "invert-match", "word-regexp", "line-regexp", "count", "recursive"),
        long_with_value=_long("max-count", "after-context", "before-context", "context"),
    ),
    "pwd": Flags(short="LP"),
    "echo": Flags(short="neE"),
    "date": Flags(short="uR", long=_long("utc", "rfc-email"), long_with_value=_long("iso-8601")),
}


class FlagRefused(ValueError):
    """An option the command's allow list does not hold (the message names it)."""


def check_flags(command: str, args: Sequence[str]) -> None:
    """Refuse any option of ``args`` that ``command``'s allow list does not hold.

    Raises:
        FlagRefused: naming the option.
    """
    flags = ALLOWED_FLAGS.get(command, Flags())
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            return
        if arg.startswith("--"):
            name, has_value, _ = arg[2:].partition("=")
            if name in flags.long_with_value:
                index += 0 if has_value else 1
            elif name not in flags.long or has_value:
                raise FlagRefused(f"{command} does not take --{name[:60]} here (long options by their full names only)")
        elif arg.startswith("-") and arg != "-":
            index = _short_group(command, flags, arg[1:], args, index)


def _short_group(command: str, flags: Flags, group: str, args: Sequence[str], index: int) -> int:
    """Check a group of short options (``-abc``, ``-n5``); the index of the next argument to read."""
    for position, letter in enumerate(group):
        if letter in flags.short_with_value:
            # The rest of the group is the value; if there is none, the next argument is.
            return index if position + 1 < len(group) else index + 1
        if letter not in flags.short:
            raise FlagRefused(f"{command} does not take -{letter} here")
    return index
