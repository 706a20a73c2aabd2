"""What the command line prints of free text (group ids, client ids, hosts, error messages).

Group ids and the like are chosen by whoever commits; printed raw, an escape sequence
could rewrite the terminal and a newline could forge table rows. Every character that
is not printable is shown as Python's ``repr`` shows it (``\\x1b``, ``\\n``, ``\\u202e``).

Also what the command line says about its own flags: ``Parser`` names a mistyped flag
and ``UsageError`` marks a refusal of the flags given (exit status 2).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from logcore.errors import InvalidRequest


def printable(text: object) -> str:
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


class UsageError(InvalidRequest):
    """The flags given do not make a valid command (exit status 2, as argparse's own errors).

    A subclass of InvalidRequest, so code that reports any refusal still reports it.
    """


# A negative number is a value (--shift-by -5), never an option.
_NUMBER = re.compile(r"-\d+(\.\d*)?$|-\.\d+$")


class Parser(argparse.ArgumentParser):
    """argparse that names a mistyped flag and suggests the flags it resembles.

    Plain argparse reports ``offsetsite topics --lst`` as "one of the arguments --create
    --list ... is required" (the check for required flags comes before unknown ones), and
    an unknown flag after a subcommand as the top-level parser's "unrecognized arguments",
    with the top-level usage. Every parser of the command line is this class (subparsers
    inherit it), so each names the unknown flags among its own arguments first.
    """

    _seen: list[str] | None = None

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._seen = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def unknown_options(self) -> list[str]:
        """The flags among this parser's arguments it does not know, nor abbreviates."""
        known = self._option_string_actions
        subcommands = {name for a in self._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices}
        unknown = []
        for arg in self._seen or []:
            if arg == "--" or arg in subcommands:
                break  # what follows is a value, or the subcommand's to judge
            flag = arg.split("=", 1)[0]
            if not flag.startswith("-") or flag == "-" or _NUMBER.match(flag) or flag in known:
                continue
            if flag.startswith("--") and any(option.startswith(flag) for option in known):
                continue  # an abbreviation: argparse resolves it or says it is ambiguous
            if not flag.startswith("--") and flag[:2] in known:
                continue  # -p5: a short flag with its value attached
            unknown.append(flag)
        return unknown

    def suggest(self, flag: str) -> str:
        options = [o for o in self._option_string_actions if o.startswith("--")]
        close = difflib.get_close_matches(flag, options, n=3, cutoff=0.6)
        return f" (did you mean {' or '.join(close)}?)" if close else ""

    def error(self, message: str) -> NoReturn:
        unknown = self.unknown_options()
        if unknown:
            message = "unrecognized arguments: " + ", ".join(f"{flag}{self.suggest(flag)}" for flag in unknown)
        elif named := re.match(r"argument (--[\w.-]+)", message):
            # Abbreviations work as in Kafka's tools (--partition for --partitions); say
            # which flag the one typed was taken for.
            flag = named.group(1)
            typed = [a.split("=", 1)[0] for a in self._seen or []]
            short = [a for a in typed if a.startswith("--") and a != flag and flag.startswith(a)]
            if short and flag not in typed:
                message = message.replace(flag, f"{flag} (given as {short[0]})", 1)
        super().error(message)
