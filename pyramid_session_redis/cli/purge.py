"""``purge``: delete every key under the prefix, after a count and a confirmation.

Refused without a prefix (unless asked for) and without someone to confirm
(unless ``--yes``); when Redis fails or Ctrl-C stops it, says how far it got.
"""

from __future__ import annotations

import argparse
from typing import Optional, TextIO

from ..exceptions import SessionBackendError
from .errors import INTERRUPTED, NOT_FOUND, OK, REDIS_FAILED, Failure, redis_error, setting
from .progress import Progress, isatty
from .target import Target, empty_prefix_warning


def count_keys(target: Target, batch: int, progress: Progress) -> int:
    """A counting pass: how many keys SCAN finds under the prefix."""
    found = 0
    for page in target.keys.scan_pages(target.match, batch):
        found += len(page)
        progress.update(found)
    progress.finish(found)
    return found


def cmd_purge(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """Count, confirm, then UNLINK page by page, saying how many went."""
    if not target.prefix:
        if not args.all_keys_in_db and not args.dry_run:
            raise Failure(
                NOT_FOUND,
                f"refused: {setting('prefix')} is empty, so a purge would delete EVERY key in {target.where}, "
                "sessions or not. Set the prefix (or pass --prefix), or, if that is really what you want, "
                "pass --all-keys-in-db",
            )
        err.write(empty_prefix_warning(target) + "\n")
    interactive = isatty(stdin)
    if not (args.yes or args.dry_run or interactive):
        raise Failure(NOT_FOUND, "refused: stdin is not a terminal, so nobody can confirm: pass --yes to purge anyway")

    total: Optional[int] = None
    if args.dry_run or not args.no_count:
        total = count_keys(target, args.batch, Progress(err, "counting", None, args.progress_every))
    if args.dry_run:
        out.write(f"dry run: {total} keys match {target.match} in {target.where}; nothing deleted\n")
        return OK
    if total == 0:
        out.write(f"no key matches {target.match} in {target.where}: nothing to delete\n")
        return OK
    if not args.yes:
        err.write(
            f"This deletes every key matching {target.match} ({setting('prefix')} = {target.prefix!r})\n"
            f"in {target.where}: {'unknown' if total is None else total} keys found.\n"
            'Type "yes" to delete them: '
        )
        err.flush()
        answer = stdin.readline().strip()
        if answer != "yes":
            raise Failure(NOT_FOUND, f"not confirmed ({answer!r} is not \"yes\"): nothing deleted")

    progress = Progress(err, "purge", total, args.progress_every)
    deleted = scanned = 0
    try:
        for page in target.keys.scan_pages(target.match, args.batch):
            scanned += len(page)
            deleted += target.keys.unlink_keys(page)
            progress.update(scanned, deleted)
    except KeyboardInterrupt:
        progress.finish(scanned, deleted)
        raise Failure(INTERRUPTED, f"interrupted: {deleted} keys deleted so far") from None
    except SessionBackendError as exc:
        progress.finish(scanned, deleted)
        raise Failure(
            REDIS_FAILED, f"Redis error at {target.where}: {redis_error(exc)} ({deleted} keys deleted before it)"
        ) from None
    progress.finish(scanned, deleted)
    out.write(f"deleted {deleted} keys matching {target.match} in {target.where} ({scanned} scanned)\n")
    return OK
