"""``stats``: how many sessions there are, and how their sizes and TTLs are spread.

One walk over the keys, a pipeline of STRLEN and TTL per page; every count is
exact for the keys SCAN returned, the percentiles by the nearest-rank method.

With ``--sample N`` there is no walk: random keys of the whole database
(RANDOMKEY, pipelined, drawn from each cluster primary in proportion to its
DBSIZE) until N of them are sessions, and the counts are the sample's scaled
by DBSIZE / draws: estimates, which the report says they are.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple, Union

from .errors import OK
from .progress import Progress, Silent, isatty
from .target import Target, empty_prefix_warning

# Bucket bounds: a value v falls in the first bucket whose bound is > v.
SIZE_BOUNDS = (100, 1024, 10 * 1024, 100 * 1024, 1024 * 1024)
SIZE_LABELS = ("< 100 B", "100 B - 1 KiB", "1 - 10 KiB", "10 - 100 KiB", "100 KiB - 1 MiB", ">= 1 MiB")
TTL_BOUNDS = (60, 5 * 60, 20 * 60, 60 * 60, 24 * 60 * 60)
TTL_LABELS = ("< 1 min", "1 - 5 min", "5 - 20 min", "20 min - 1 h", "1 h - 1 day", ">= 1 day")
NO_TTL = "no TTL"
PERCENTILES = (("min", 0.0), ("median", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0))
# --sample gives up after this many draws per session wanted: sessions are then
# fewer than 1 key in MAX_DRAWS_PER_SESSION, and the estimate is made from what was drawn.
MAX_DRAWS_PER_SESSION = 50


@dataclass
class Census:
    """What one walk over the sessions found."""

    sizes: array[int] = field(default_factory=lambda: array("q"))
    ttls: array[int] = field(default_factory=lambda: array("q"))
    no_ttl: int = 0
    total_bytes: int = 0
    not_strings: int = 0  # keys under the prefix that are not strings, so not sessions
    vanished: int = 0  # returned by SCAN, gone (expired, deleted) before their TTL was read
    scanned: int = 0
    batches: int = 0

    @property
    def sessions(self) -> int:
        return len(self.sizes)

    def add(self, replies: Sequence[Tuple[Optional[int], int]]) -> None:
        for size, ttl in replies:
            if ttl == -2:
                self.vanished += 1
            elif size is None:
                self.not_strings += 1
            else:
                self.sizes.append(size)
                self.total_bytes += size
                if ttl == -1:
                    self.no_ttl += 1
                else:
                    self.ttls.append(ttl)


def percentiles(values: array[int]) -> Dict[str, Optional[int]]:
    """min, median, p90, p99, max by the nearest-rank method (each one a value that occurs)."""
    ordered = sorted(values)
    out: Dict[str, Optional[int]] = {}
    for name, p in PERCENTILES:
        if not ordered:
            out[name] = None
        else:
            rank = max(1, math.ceil(p / 100 * len(ordered)))
            out[name] = ordered[rank - 1]
    return out


def buckets(values: array[int], bounds: Sequence[int], labels: Sequence[str]) -> Dict[str, int]:
    counts = [0] * len(labels)
    for value in values:
        counts[bisect.bisect_right(bounds, value)] += 1
    return dict(zip(labels, counts))


@dataclass
class Sample:
    """How a ``--sample`` census was drawn: ``draws`` random keys of a database of ``keys`` keys."""

    keys: int
    wanted: int
    draws: int = 0

    @property
    def scale(self) -> float:
        """Each drawn key stands for this many keys of the database (a sample has one draw at least)."""
        return self.keys / self.draws


class SampleProgress(Progress):
    def line(self, scanned: int, deleted: Optional[int]) -> str:
        return f"{self.label}: drew {scanned} random keys, {deleted} of them sessions"


def take_sample(target: Target, wanted: int, batch: int, progress: Progress) -> Union[Tuple[Census, Sample], int]:
    """At least ``wanted`` sessions drawn at random (with replacement), in pipelines of
    ``batch`` RANDOMKEYs, or the whole database's size when it is no larger than ``wanted``."""
    counts = [(node, size) for node, size in target.keys.key_counts() if size]
    keys = sum(size for _, size in counts)
    if keys <= wanted:
        return keys
    census, sample = Census(), Sample(keys=keys, wanted=wanted)
    prefix = target.prefix.encode()
    limit = MAX_DRAWS_PER_SESSION * wanted
    while census.sessions < wanted and sample.draws < limit:
        # Draw about as many as should bring the sessions wanted, at the rate seen so far.
        rate = max(census.sessions / sample.draws, 1 / MAX_DRAWS_PER_SESSION) if sample.draws else 1.0
        size = min(batch, limit - sample.draws, math.ceil((wanted - census.sessions) / rate))
        picks = random.choices(range(len(counts)), [n for _, n in counts], k=size)
        for index in sorted(set(picks)):
            drawn = target.keys.random_keys(counts[index][0], picks.count(index))
            sample.draws += len(drawn)
            mine = [key for key in drawn if key is not None and key.startswith(prefix)]
            census.scanned += len(mine)
            census.add(target.keys.sizes_and_ttls(mine))
        census.batches += 1
        progress.update(sample.draws, census.sessions)
    progress.finish(sample.draws, census.sessions)
    return census, sample


def take_census(target: Target, batch: int, progress: Progress) -> Census:
    census = Census()
    for page in target.keys.scan_pages(target.match, batch):
        census.batches += 1
        census.scanned += len(page)
        census.add(target.keys.sizes_and_ttls(page))
        progress.update(census.scanned)
    progress.finish(census.scanned)
    return census


def _scaled(value: Any, scale: float) -> Any:
    """A count of the sample as an estimate for the database (dicts of counts alike)."""
    if isinstance(value, dict):
        return {name: _scaled(count, scale) for name, count in value.items()}
    return round(value * scale)


def sample_report(sample: Sample, census: Census) -> Dict[str, Any]:
    """The ``sampled`` part of the report: what was drawn, and the 95% margin of the session count."""
    share = census.sessions / sample.draws
    margin = 1.96 * math.sqrt(share * (1 - share) / sample.draws) * sample.keys
    return {
        "method": "RANDOMKEY",
        "keys_in_database": sample.keys,
        "draws": sample.draws,
        "sessions_drawn": census.sessions,
        "sessions_wanted": sample.wanted,
        "sessions_margin_95": round(margin),
    }


def stats_report(target: Target, census: Census, batch: int, sample: Optional[Sample] = None) -> Dict[str, Any]:
    """The report; with ``sample``, every count and total is the sample's times ``sample.scale``
    (the percentiles are the sample's own)."""
    ttl_buckets = buckets(census.ttls, TTL_BOUNDS, TTL_LABELS)
    ttl_buckets[NO_TTL] = census.no_ttl
    report: Dict[str, Any] = {
        "prefix": target.prefix,
        "match": target.match,
        "location": target.location,
        "db": target.db,
        "cluster": target.cluster,
        "whole_database": not target.prefix,
        "sessions": census.sessions,
        "total_bytes": census.total_bytes,
        "size_bytes": {**percentiles(census.sizes), "buckets": buckets(census.sizes, SIZE_BOUNDS, SIZE_LABELS)},
        "ttl_seconds": {
            **percentiles(census.ttls),
            "with_ttl": len(census.ttls),
            "no_ttl": census.no_ttl,
            "buckets": ttl_buckets,
        },
        "not_strings": census.not_strings,
        "vanished": census.vanished,
        "scanned": census.scanned,
        "scan_batches": census.batches,
        "batch": batch,
        "sampled": None,
    }
    if sample is not None:
        scale = sample.scale
        report["sessions"] = _scaled(census.sessions, scale)
        report["total_bytes"] = _scaled(census.total_bytes, scale)
        report["size_bytes"]["buckets"] = _scaled(report["size_bytes"]["buckets"], scale)
        for name in ("with_ttl", "no_ttl", "buckets"):
            report["ttl_seconds"][name] = _scaled(report["ttl_seconds"][name], scale)
        report["not_strings"] = _scaled(census.not_strings, scale)
        report["vanished"] = _scaled(census.vanished, scale)
        report["scanned"] = report["scan_batches"] = 0
        report["sampled"] = sample_report(sample, census)
    if not target.prefix:
        report["warning"] = empty_prefix_warning(target)
    return report


def human_bytes(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def stats_text(report: Dict[str, Any]) -> List[str]:
    prefix = report["prefix"]
    lines = [
        f"prefix:      {prefix!r}" + ("   <-- EMPTY: every key in the database counts" if not prefix else ""),
        f"redis:       {report['location']}, db {report['db']}" + (" (Redis Cluster)" if report["cluster"] else ""),
    ]
    sampled = report["sampled"]
    if sampled is None:
        lines += [
            f"scanned:     {report['scanned']} keys in {report['scan_batches']} SCAN batches "
            f"(MATCH {report['match']} COUNT {report['batch']})",
            f"sessions:    {report['sessions']}",
            f"total size:  {report['total_bytes']} bytes ({human_bytes(report['total_bytes'])})",
        ]
    else:
        lines += [
            f"SAMPLED:     {sampled['draws']} random keys (RANDOMKEY) of the {sampled['keys_in_database']} "
            f"in the database, {sampled['sessions_drawn']} of them sessions: every count below is an ESTIMATE",
            f"sessions:    ~{report['sessions']} (+/- {sampled['sessions_margin_95']} at 95%)",
            f"total size:  ~{report['total_bytes']} bytes (~{human_bytes(report['total_bytes'])})",
        ]
    if report["not_strings"]:
        lines.append(f"not strings: {report['not_strings']} keys (not sessions; left out)")
    if report["vanished"]:
        lines.append(f"vanished:    {report['vanished']} keys (expired or deleted during the scan; left out)")
    if not report["sessions"]:
        return lines
    size, ttl = report["size_bytes"], report["ttl_seconds"]
    names = [name for name, _ in PERCENTILES]
    head = "(of the sample)" if sampled is not None else ""
    lines += ["", f"{head:15}" + "".join(f"{name:>10}" for name in names)]
    lines.append(f"{'size (bytes)':15}" + "".join(f"{size[name]:>10}" for name in names))
    if ttl["with_ttl"]:
        lines.append(f"{'TTL (seconds)':15}" + "".join(f"{ttl[name]:>10}" for name in names))
    lines += ["", f"{'size':17}{'sessions':>10}"]
    lines += [f"  {label:15}{count:>10}" for label, count in size["buckets"].items()]
    lines += ["", f"{'TTL':17}{'sessions':>10}"]
    lines += [f"  {label:15}{count:>10}" for label, count in ttl["buckets"].items()]
    return lines


def cmd_stats(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int:
    """The report, as text or JSON; progress only on a terminal (stdout stays the report)."""
    if not target.prefix:
        err.write(empty_prefix_warning(target) + "\n")
    tty = isatty(err)
    sample: Optional[Sample] = None
    census: Optional[Census] = None
    if args.sample is not None:
        drawn = take_sample(target, args.sample, args.batch,
                            SampleProgress(err, "sampling", None, 1) if tty else Silent(err, "", None, 1))
        if isinstance(drawn, int):
            err.write(f"stats: the database holds {drawn} keys, no more than --sample {args.sample}: "
                      "counting them all instead (exact)\n")
        else:
            census, sample = drawn
    if census is None:
        census = take_census(target, args.batch, Progress(err, "stats", None, 1) if tty else Silent(err, "", None, 1))
    report = stats_report(target, census, args.batch, sample)
    if args.json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write("\n".join(stats_text(report)) + "\n")
    return OK
