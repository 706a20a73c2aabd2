"""What the command line prints of free text (group ids, client ids, hosts, error messages).

Group ids and the like are chosen by whoever commits; printed raw, an escape sequence
could rewrite the terminal and a newline could forge table rows. Every character that
is not printable is shown as Python's ``repr`` shows it (``\\x1b``, ``\\n``, ``\\u202e``).
"""

from __future__ import annotations


def printable(text: object) -> str:
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
