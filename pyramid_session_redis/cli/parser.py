"""The command line itself: its options, and ``main``, which runs one command.

``main`` is the console script's entry point; it turns every ``Failure``
(and Redis failures, and Ctrl-C) into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..exceptions import SessionBackendError
from .errors import INTERRUPTED, PROG, REDIS_FAILED, USAGE, Failure, fail, redis_error
from .purge import cmd_purge
from .show import cmd_delete, cmd_show
from .stats import cmd_stats
from .target import load_target

DEFAULT_BATCH = 1000
DEFAULT_PROGRESS_EVERY = 10  # batches between two progress lines when stderr is not a terminal


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The options every command takes; accepted before or after the command."""
    # After the command, an option not given must not replace what was given before it.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--redis-url", metavar="URL", default=default,
        help="Redis to look at, instead of the location the redis.sessions.* settings give "
        "(for applications that configure their session factory in Python)",
    )
    parser.add_argument(
        "--prefix", default=default,
        help="key prefix of the sessions, instead of redis.sessions.prefix",
    )
    parser.add_argument(
        "--cluster", action="store_true", default=False if top else argparse.SUPPRESS,
        help="the Redis location is a node of a Redis Cluster (as redis.sessions.redis_cluster = true)",
    )


def _add_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch", type=_positive, default=DEFAULT_BATCH, metavar="N",
        help=f"SCAN COUNT, and so the size of each pipeline or UNLINK (default {DEFAULT_BATCH})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Count, inspect and purge the sessions an application keeps in Redis, "
        "reading its redis.sessions.* settings from its ini file as pshell does. "
        "Words name=value between config_uri and COMMAND set the ini file's variables, "
        "as with pshell and pserve: %(name)s and 'get setting = name' read them.",
        epilog="Exit status: 0 done, 1 not found or refused, 2 usage or settings error, 3 Redis failed.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    parser.add_argument("config_uri", help="the application's ini file, optionally with #section (default: main)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    stats = commands.add_parser("stats", help="count the sessions; size and TTL distributions")
    _add_common(stats, top=False)
    _add_batch(stats)
    stats.add_argument("--json", action="store_true", help="machine-readable output, for monitoring")
    stats.add_argument(
        "--sample", type=_positive, metavar="N",
        help="no walk over the keys: draw random keys (RANDOMKEY) until N are sessions, and estimate "
        "the counts from them (for millions of sessions); the output says it is sampled",
    )

    for name, text in (("show", "show one session: TTL, size, times and data"), ("delete", "delete one session")):
        sub = commands.add_parser(name, help=text)
        _add_common(sub, top=False)
        sub.add_argument("id", metavar="ID", help="a session id, or the signed cookie value copied from a browser")

    purge = commands.add_parser("purge", help="delete every session under the prefix, after confirmation")
    _add_common(purge, top=False)
    _add_batch(purge)
    purge.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.add_argument("--no-count", action="store_true", help="skip the counting pass before the confirmation")
    purge.add_argument(
        "--all-keys-in-db", action="store_true",
        help="allow a purge with an empty prefix, which deletes every key of the database",
    )
    purge.add_argument(
        "--progress-every", type=_positive, default=DEFAULT_PROGRESS_EVERY, metavar="N",
        help=f"when stderr is not a terminal, a progress line every N batches (default {DEFAULT_PROGRESS_EVERY})",
    )
    return parser


_TAKES_VALUE = ("--redis-url", "--prefix")
_ID_COMMAND_OPTIONS = (*_TAKES_VALUE, "--cluster", "--help", "-h")


def protect_ids(argv: Sequence[str]) -> List[str]:
    """``argv`` with the ID of show and delete moved after a ``--`` when it starts with "-".

    Session ids and signed cookie values are base64url, and one in 64 starts
    with "-": argparse would take it for an option.
    """
    args = list(argv)
    words: List[str] = []  # config_uri, the command, the ID
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        if arg in _TAKES_VALUE:
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
        elif len(words) == 2 and words[1] in ("show", "delete") and arg.split("=", 1)[0] not in _ID_COMMAND_OPTIONS:
            return [*args[:i], *args[i + 1:], "--", arg]  # (options after the ID still count)
        i += 1
    return args


def split_variables(argv: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """``argv`` without the ``name=value`` words between the config URI and the command, and those
    words as a dict, as ``pshell``/``pserve`` take them (``app.ini redis_url=redis://... stats``).

    A command never contains "=", so the first word without one after the config URI is the command.
    """
    args = list(argv)
    rest: List[str] = []
    variables: Dict[str, str] = {}
    seen_uri = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return rest + args[i:], variables
        if arg in _TAKES_VALUE:
            rest += args[i:i + 2]
            i += 2
            continue
        if arg.startswith("-") and arg != "-":
            rest.append(arg)
        elif not seen_uri:
            seen_uri = True
            rest.append(arg)
        elif "=" in arg and not arg.startswith("="):
            name, _, value = arg.partition("=")
            variables[name] = value
        else:  # the command: everything after it is its own
            return rest + args[i:], variables
        i += 1
    return rest, variables


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    out, err, stdin = sys.stdout, sys.stderr, sys.stdin
    parser = build_parser()
    words, variables = split_variables(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(protect_ids(words))
    except SystemExit as exc:  # --help (0), or a usage error argparse has already printed (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    args.variables = variables
    try:
        target = load_target(args)
        try:
            if args.command == "stats":
                return cmd_stats(args, target, out, err)
            if args.command == "show":
                return cmd_show(args, target, out, err)
            if args.command == "delete":
                return cmd_delete(args, target, out, err)
            return cmd_purge(args, target, out, err, stdin)
        except SessionBackendError as exc:
            raise Failure(REDIS_FAILED, f"Redis error at {target.where}: {redis_error(exc)}") from None
    except Failure as failure:
        fail(err, str(failure))
        return failure.status
    except KeyboardInterrupt:
        fail(err, "interrupted")
        return INTERRUPTED
