"""What ends a command: exit statuses, ``Failure``, and the words of the messages.

Every module of the command line raises ``Failure``; only ``parser.main``
prints it, so every message has the same shape and every status one meaning.
"""

from __future__ import annotations

from typing import TextIO

from .. import options as option_table
from ..exceptions import SessionBackendError

PROG = "pyramid-session-redis"
OK, NOT_FOUND, USAGE, REDIS_FAILED = 0, 1, 2, 3
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C


class Failure(Exception):
    """Ends the command: ``message`` on stderr, ``status`` as the exit status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def setting(name: str) -> str:
    """How a setting is named in messages: as it is written in the ini file."""
    return option_table.settings_key(name)


def one_line(text: str) -> str:
    return " ".join(text.split())


def redis_error(exc: SessionBackendError) -> str:
    """The redis-py error behind ``exc``, on one line (its repr, in the message, can be as
    terse as ``network:ConnectionError``)."""
    cause = exc.__cause__
    return one_line(f"{type(cause).__name__}: {cause}" if cause is not None else str(exc))


def fail(err: TextIO, message: str) -> None:
    """A failure's one line on stderr, named after the program as argparse names it."""
    err.write(f"{PROG}: {message}\n")
