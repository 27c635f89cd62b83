"""The benchmark coordinator: ``python -m bench`` (see ``bench/README.md``).

It starts a private redis-server, one worker process per implementation (the
1.8.1 worker from its own virtual environment), and then, row by row, sends
the workers timed batches in turn (A/B interleaved, the order rotated every
round) while it reads ``INFO commandstats`` around each batch.  Ratios are
taken within a round, then the median over rounds is reported, so slow
drifts of the machine cancel out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import redis

from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.testing.servers import RedisServer

from .wsgiapps import LOCAL_CACHE, expected_commands

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "docs" / "bench"
_NOT_COUNTED = {"config|resetstat", "info", "hello", "client|setinfo", "flushall", "select", "ping"}

SMALL, K10, K100 = 0, 10_000, 100_000
SIZES = (1_000, 10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Row:
    scenario: str
    policy: str = "default"
    size: int = SMALL

    @property
    def label(self) -> str:
        size = "" if self.size == SMALL else f" {_size_name(self.size)}"
        policy = "" if self.policy == "default" else f" [{self.policy}]"
        return f"{self.scenario}{size}{policy}"


def _size_name(size: int) -> str:
    return f"{size // 1_000_000} MB" if size >= 1_000_000 else f"{size // 1000} KB"


def main_rows() -> List[Row]:
    rows = [Row("untouched"), Row("new"), Row("read"), Row("write"), Row("nested")]
    rows += [Row("read", size=K10), Row("write", size=K10), Row("read", size=K100), Row("write", size=K100)]
    for policy in ("trigger", "lru", "readheavy", "pickle"):
        rows += [Row("read", policy), Row("write", policy)]
    rows.append(Row("new", "pickle"))
    return rows


def serializer_rows() -> List[Row]:
    return [Row(s, p, K10) for p in ("default", "orjson", "msgspec") for s in ("read", "write")]


def size_rows() -> List[Row]:
    return [Row(s, "default", size) for size in SIZES for s in ("read", "write")]


def impls_for(row: Row, available: List[str]) -> List[str]:
    wanted = ["ours", "floor", "v181"]
    if row.policy in ("orjson", "msgspec"):
        wanted = ["ours", "floor"]
    elif row.policy == "default":
        if row.scenario in ("read", "write"):
            wanted += ["floor+codec", "ours+hiredis", "ours+msgspec"]
        if row.size == SMALL:
            wanted += ["none", "signed"]
    if row.scenario == "read" and row.policy in ("default", "trigger", "lru", "readheavy"):
        wanted.append("ours+cache")  # local_cache on: a hit sends nothing
    if row.scenario in ("write", "nested"):
        wanted.append("ours+overwrite")  # what the default checked write costs, on every row that writes
    return [impl for impl in wanted if impl in available]


# -- workers ------------------------------------------------------------------


class WorkerProcess:
    def __init__(self, impl: str, python: str, env: Optional[Dict[str, str]] = None):
        self.impl = impl
        self.proc = subprocess.Popen(
            [python, str(HERE / "worker.py"), impl],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(HERE),
            env={**os.environ, **(env or {})},
        )
        self.info = self.call("hello")

    def call(self, op: str, **msg: Any) -> Dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **msg}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.impl} died")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"worker {self.impl}, {op}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def command_counts(client: redis.Redis) -> Dict[str, int]:
    """Commands sent over the network since the last CONFIG RESETSTAT, by name."""
    stats = client.info("commandstats")
    counts = {}
    scripts_run = 0
    for key, value in stats.items():
        name = key[len("cmdstat_"):] if key.startswith("cmdstat_") else key
        if name not in _NOT_COUNTED:
            counts[name] = int(value["calls"])
        if name in ("evalsha", "eval"):
            # A failed call (NOSCRIPT) crossed the network but ran nothing.
            scripts_run += int(value["calls"]) - int(value.get("failed_calls", 0)) - int(value.get("rejected_calls", 0))
    # commandstats also counts what a Lua script runs inside Redis, which never
    # crosses the network.  The only script here is the checked write (ours,
    # ours+hiredis and ours+msgspec: on_conflict merge, the default;
    # ours+overwrite sends a SET XX), and with one browser sending requests in
    # sequence it never meets a conflict, and every payload it wrote carries a
    # stamp: every run did exactly one GETRANGE and one SET.  Taking them off
    # leaves what the client sent (as MONITOR, which the tests use, sees it).
    # A conflict (GET) or an unstamped payload (STRLEN) would leave a command
    # the table does not have, and the commands target would show it.
    for name in ("getrange", "set"):
        if scripts_run:
            counts[name] = counts.get(name, 0) - scripts_run
    return counts


@dataclass
class Result:
    row: Row
    per_impl: Dict[str, List[Tuple[int, float]]] = field(default_factory=dict)  # (n, elapsed) per round
    commands: Dict[str, Dict[str, float]] = field(default_factory=dict)  # per request, first round
    cookie_bytes: Dict[str, int] = field(default_factory=dict)
    failed: Dict[str, str] = field(default_factory=dict)  # baselines that could not run this row

    def us(self, impl: str) -> float:
        return statistics.median(e / n * 1e6 for n, e in self.per_impl[impl])

    def rate(self, impl: str) -> float:
        return 1e6 / self.us(impl)

    def ratios(self, impl: str, other: str) -> List[float]:
        """(impl's throughput / other's) in each round, both measured in that round."""
        pairs = zip(self.per_impl[impl], self.per_impl[other])
        return [(n1 / e1) / (n2 / e2) for (n1, e1), (n2, e2) in pairs]

    def ratio(self, impl: str, other: str) -> float:
        return statistics.median(self.ratios(impl, other))

    def spread(self, impl: str, other: str) -> str:
        """The median ratio with the lowest and highest round, to show the noise."""
        ratios = self.ratios(impl, other)
        return f"{statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f})"


def measure(row: Row, workers: Dict[str, WorkerProcess], client: redis.Redis, url: str,
            rounds: int, seconds: float) -> Result:
    impls = impls_for(row, list(workers))
    result = Result(row)
    client.flushall()
    for impl in list(impls):
        try:
            reply = workers[impl].call("setup", redis_url=url, scenario=row.scenario, policy=row.policy, size=row.size)
        except RuntimeError as exc:
            if impl == "ours":
                raise
            result.failed[impl] = str(exc)
            impls.remove(impl)
            continue
        result.cookie_bytes[impl] = reply["cookie_bytes"]
        result.per_impl[impl] = []
    for r in range(rounds):
        order = impls[r % len(impls):] + impls[: r % len(impls)]
        for impl in order:
            client.config_resetstat()
            reply = workers[impl].call("run", seconds=seconds)
            counts = command_counts(client)
            result.per_impl[impl].append((reply["n"], reply["elapsed"]))
            per_request = {k: v / reply["n"] for k, v in counts.items() if v}
            if impl not in result.commands:
                result.commands[impl] = per_request
            elif per_request != result.commands[impl]:
                result.commands[impl] = _merge_counts(result.commands[impl], per_request)
    return result


def _merge_counts(a: Dict[str, float], b: Dict[str, float]) -> Dict[str, float]:
    """Commands that varied between rounds are shown as their larger rate."""
    return {k: max(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b)}


def format_commands(counts: Dict[str, float]) -> str:
    if not counts:
        return "-"
    parts = []
    for name, per in sorted(counts.items()):
        shown = f"{per:.0f}" if abs(per - round(per)) < 0.005 else f"{per:.2f}"
        parts.append(f"{shown} {name.upper()}")
    return " + ".join(parts)


def exact(counts: Dict[str, float], expected: Dict[str, int]) -> bool:
    if set(counts) != set(expected):
        return False
    return all(abs(counts[k] - v) < 1e-9 for k, v in expected.items())


# -- the report ---------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.lines: List[str] = []
        self.targets: List[Tuple[str, bool, str]] = []

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def target(self, name: str, ok: bool, detail: str) -> None:
        self.targets.append((name, ok, detail))


def table(report: Report, title: str, results: List[Result]) -> None:
    others = ("floor", "floor+codec", "v181", "none", "signed")
    report.say(title)
    report.say(f"{'scenario':24s} {'ours us':>8s} {'req/s':>6s} {'floor':>6s} {'fl+cod':>6s} {'1.8.1':>6s} "
               f"{'none':>6s} {'signed':>6s} {'hiredis':>7s} {'msgspec':>7s} {'checked':>7s}  "
               f"ours: commands/request | 1.8.1")
    for res in results:
        ours = res.us("ours")
        cells = [f"{res.ratio('ours', other):6.2f}" if other in res.per_impl else f"{'':6s}" for other in others]
        gain = " ".join(f"{res.ratio(extra, 'ours'):7.2f}" if extra in res.per_impl else f"{'':7s}"
                        for extra in ("ours+hiredis", "ours+msgspec"))
        checked = res.ratio("ours", "ours+overwrite") if "ours+overwrite" in res.per_impl else None
        gain += f" {checked:7.2f}" if checked is not None else f" {'':7s}"
        v181_cmds = format_commands(res.commands["v181"]) if "v181" in res.commands else ""
        if "v181" in res.failed:
            v181_cmds = "fails: " + res.failed["v181"].split(": ", 2)[-1]
        report.say(f"{res.row.label:24s} {ours:8.1f} {1e6 / ours:6.0f} {' '.join(cells)} {gain}  "
                   f"{format_commands(res.commands['ours'])} | {v181_cmds}")
    report.say()


LEGEND = """\
Columns: ours' time per request and throughput; then ours' throughput divided by that of
  floor    the raw redis-py commands of the scenario, nothing else
  fl+cod   the floor plus stdlib JSON decode (and encode, for writes) of the payload
  1.8.1    pyramid_session_redis 1.8.1 with its defaults (pickle), same options otherwise
           (in read-heavy mode with python_expires=False, which 1.8.1 requires there)
  none     no session factory at all;  signed  Pyramid's SignedCookieSessionFactory
  hiredis  ours with hiredis installed, divided by ours without it (a speed-up above 1)
  msgspec  ours with the msgspec extra installed (faster decoding), divided by ours without it
  checked  ours divided by ours with on_conflict="overwrite": the cost of the default checked
           write (one EVALSHA that SETs only if Redis still begins with the stamp the request
           loaded) against a plain SET XX; 1.00 = no cost, below 1 = the checked write is slower;
           on the rows that write
"ours" is a default install: neither hiredis nor msgspec; on_conflict is its default, merge.
Commands are counted from INFO commandstats less the GETRANGE and SET each successful EVALSHA
(the checked write of ours, ours+hiredis, ours+msgspec) runs inside Redis.
Each ratio is the median over rounds of the ratio measured within one round.
"""


def cache_table(report: Report, results: List[Result]) -> None:
    report.say("local_cache: read-only requests served from the worker's cache (ours+cache), against ours reading Redis")
    report.say(f"{'scenario':24s} {'ours us':>8s} {'cache us':>8s} {'cache/ours':>10s} {'cache/floor':>11s} "
               f"{'cache/fl+cod':>12s}  commands/request")
    for res in results:
        codec = f"{res.ratio('ours+cache', 'floor+codec'):12.2f}" if "floor+codec" in res.per_impl else f"{'':12s}"
        report.say(f"{res.row.label:24s} {res.us('ours'):8.1f} {res.us('ours+cache'):8.1f} "
                   f"{res.ratio('ours+cache', 'ours'):10.2f} {res.ratio('ours+cache', 'floor'):11.2f} {codec}  "
                   f"{format_commands(res.commands['ours+cache'])}")
    report.say()


def check_targets(report: Report, results: Dict[Row, Result], serial: Dict[str, float],
                  soak: Optional[Dict[str, Any]]) -> None:
    for row, res in results.items():
        want = expected_commands(row.scenario, row.policy, "ours")
        got = res.commands["ours"]
        report.target(f"commands {row.label}", exact(got, want),
                      f"{format_commands(got)} (table: {format_commands(dict(want))})")
        if "ours+overwrite" in res.commands:
            want = expected_commands(row.scenario, row.policy, "ours+overwrite")
            got = res.commands["ours+overwrite"]
            report.target(f"commands {row.label}, on_conflict=overwrite", exact(got, want),
                          f"{format_commands(got)} (table: {format_commands(dict(want))})")
    for row, res in results.items():
        if "ours+cache" in res.per_impl:
            report.target(f"local_cache hit sends no command: {row.label}", res.commands["ours+cache"] == {},
                          format_commands(res.commands["ours+cache"]))
            if row.size == SMALL:
                ratio = res.ratio("ours+cache", "ours")
                report.target(f"local_cache hit >= 2.5x ours reading Redis: {row.label}", ratio >= 2.5,
                              res.spread("ours+cache", "ours"))
    for row, res in results.items():
        if "ours+overwrite" in res.per_impl:
            ratio = res.ratio("ours", "ours+overwrite")
            report.target(f"the checked write costs nothing measurable, ours >= 0.95x ours+overwrite: {row.label}",
                          ratio >= 0.95, res.spread("ours", "ours+overwrite"))
    for row, res in results.items():
        ratio = res.ratio("ours", "floor")
        report.target(f">= 0.9x floor: {row.label}", ratio >= 0.9, res.spread("ours", "floor"))
    for row, res in results.items():
        if "v181" not in res.per_impl:
            continue
        ratio = res.ratio("ours", "v181")
        need = 1.0
        if row == Row("read"):
            need = 1.5
        elif row == Row("new"):
            need = 2.0
        report.target(f">= {need}x 1.8.1: {row.label}", ratio >= need, res.spread("ours", "v181"))
    for scenario in ("read", "write"):
        points = [(size, results[Row(scenario, "default", size)].us("ours")) for size in SIZES
                  if Row(scenario, "default", size) in results]
        if len(points) >= 3:
            # Linear: the marginal cost per byte between the two largest sizes is no
            # more than twice the marginal cost between the two sizes below them.
            (s1, t1), (s2, t2), (s3, t3) = points[-3:]
            low, high = (t2 - t1) / (s2 - s1), (t3 - t2) / (s3 - s2)
            ok = high <= 2 * low
            report.target(f"linear in size: {scenario}", ok,
                          f"{low * 1000:.3f} us/KB from {_size_name(s1)} to {_size_name(s2)}, "
                          f"{high * 1000:.3f} us/KB from {_size_name(s2)} to {_size_name(s3)}")
    if serial:
        report.target("read-only request of a 100 KB session does not serialize", serial["read"] == 0,
                      f"{serial['read']:.2f} serializations per read-only request "
                      f"({serial['write']:.2f} per writing request)")
    if soak:
        samples = soak["samples"]
        first, last = samples[1] if len(samples) > 2 else samples[0], samples[-1]
        grew_rss = last["rss"] - first["rss"]
        grew_traced = last["traced"] - first["traced"]
        grew_objects = last["objects"] - first["objects"]
        ok = grew_rss < 1_000_000 and grew_traced < 100_000 and grew_objects < 1000
        report.target(f"no memory growth over {last['requests']:,} requests", ok,
                      f"from request {first['requests']:,} to {last['requests']:,}: RSS {grew_rss / 1024:+.0f} KiB, "
                      f"traced {grew_traced / 1024:+.1f} KiB, gc objects {grew_objects:+d}")


# -- plots --------------------------------------------------------------------


def plot(results: Dict[Row, Result], rows: List[Row], path_tp: Path, path_size: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"floor+codec": "floor + stdlib JSON codec", "ours": "pyramid_session_redis 2.0",
             "ours+msgspec": "2.0 with the msgspec extra", "v181": "pyramid_session_redis 1.8.1 (pickle)",
             "floor": "floor (raw redis-py)"}
    colors = {"floor+codec": "#999999", "ours": "#d62728", "ours+msgspec": "#ff9896", "v181": "#1f77b4",
              "floor": "#444444"}
    impls = ["floor+codec", "ours", "ours+msgspec", "v181"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    height = 0.2
    for i, impl in enumerate(impls):
        ys, xs = [], []
        for j, row in enumerate(rows):
            res = results[row]
            if impl in res.per_impl and "floor" in res.per_impl:
                ys.append(j + (i - 1.5) * height)
                xs.append(res.ratio(impl, "floor"))
        ax.barh(ys, xs, height=height, label=names[impl], color=colors[impl])
    ax.axvline(1.0, color="#444444", linewidth=1)
    ax.axvline(0.9, color="#444444", linewidth=1, linestyle=":")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([row.label for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel("throughput relative to the raw redis-py floor of the same scenario (floor = 1, dotted: 0.9)")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path_tp, dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for impl in ("floor", "floor+codec", "ours", "v181"):
        for scenario, style in (("read", "-"), ("write", "--")):
            pts = [(size, results[Row(scenario, "default", size)]) for size in SIZES
                   if Row(scenario, "default", size) in results]
            pts = [(size / 1000, res.us(impl) / 1000) for size, res in pts if impl in res.per_impl]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", color=colors[impl],
                        label=f"{names[impl]}, {scenario}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("session size (KB of JSON)")
    ax.set_ylabel("ms per request (lower is better)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path_size, dpi=90)
    plt.close(fig)


def load_results(path: Path) -> Dict[Row, Result]:
    """The measured rows of an earlier run's ``results.json`` (for ``--replot``)."""
    results = {}
    for item in json.loads(path.read_text())["rows"]:
        row = Row(item["scenario"], item["policy"], item["size"])
        res = Result(row, {impl: [tuple(r) for r in runs] for impl, runs in item["runs"].items()}, item["commands"])
        results[row] = res
    return results


# -- main ---------------------------------------------------------------------


def _pin(server: RedisServer) -> Dict[str, str]:
    """Pin redis-server to CPU 1 and return the environment that pins workers to CPU 0."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if len(cpus) < 2 or server.process is None:
        return {}
    first, second = sorted(cpus)[:2]
    os.sched_setaffinity(server.process.pid, {second})
    return {"BENCH_CPU": str(first)}


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def find_v181(explicit: Optional[str]) -> Optional[str]:
    for candidate in (explicit, os.environ.get("BENCH_V181_PYTHON"), str(HERE / ".venvs" / "v181" / "bin" / "python")):
        if candidate and Path(candidate).exists():
            return str(Path(candidate).absolute())  # workers run with bench/ as their directory
    return None


def write_rows() -> List[Row]:
    """Every row that writes an existing session, once each, in report order."""
    rows = dict.fromkeys(main_rows() + serializer_rows() + size_rows())
    return [row for row in rows if row.scenario in ("write", "nested")]


def checked_only(rounds: int, seconds: float, out: Path, strict: bool) -> int:
    """Only ours (the default checked write) against ours+overwrite (SET XX), on
    the write rows: with two workers a round is two adjacent batches, so the
    ratio sees less of the machine's drift than in the full run, where up to
    eight batches separate them."""
    report = Report()
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        plain = {"BENCH_NO_HIREDIS": "1", **_pin(server)}
        workers = {impl: WorkerProcess(impl, sys.executable, plain) for impl in ("ours", "ours+overwrite")}
        client.script_load(CHECKED_WRITE)  # cached, as on a server that has run it once (see main)
        try:
            report.say(f"the default checked write (on_conflict=merge) against on_conflict=overwrite (SET XX), "
                       f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
                       f"{rounds} interleaved rounds of {seconds} s")
            report.say(f"{'scenario':24s} {'ours us':>8s} {'overwrite us':>12s} {'diff us':>8s}  ours / ours+overwrite")
            for row in write_rows():
                res = measure(row, workers, client, server.url, rounds, seconds)
                ours, overwrite = res.us("ours"), res.us("ours+overwrite")
                report.say(f"{row.label:24s} {ours:8.1f} {overwrite:12.1f} {ours - overwrite:8.1f}  "
                           f"{res.spread('ours', 'ours+overwrite')}")
                report.target(f"the checked write costs nothing measurable, ours >= 0.95x ours+overwrite: {row.label}",
                              res.ratio("ours", "ours+overwrite") >= 0.95, res.spread("ours", "ours+overwrite"))
                for impl, want in (("ours", expected_commands(row.scenario, row.policy, "ours")),
                                   ("ours+overwrite", expected_commands(row.scenario, row.policy, "ours+overwrite"))):
                    if not exact(res.commands[impl], want):
                        report.target(f"commands {row.label}, {impl}", False, format_commands(res.commands[impl]))
        finally:
            for worker in workers.values():
                worker.close()
    held = sum(ok for _, ok, _ in report.targets)
    report.say(f"Targets: {held} of {len(report.targets)} hold")
    for name, ok, detail in report.targets:
        report.say(f"  {'ok  ' if ok else 'MISS'} {name}: {detail}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "checked.txt").write_text("\n".join(report.lines) + "\n")
    print(f"wrote {out / 'checked.txt'}")
    return 1 if strict and held != len(report.targets) else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (a minute or two), for a smoke test")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per row (default 7; 2 with --quick)")
    parser.add_argument("--seconds", type=float, help="length of one timed batch (default 0.25 s; 0.05 with --quick)")
    parser.add_argument("--v181-python", help="python of a virtualenv with pyramid_session_redis==1.8.1")
    parser.add_argument("--no-http", action="store_true", help="skip the waitress + wrk part")
    parser.add_argument("--soak", type=int, help="requests in the memory soak (default 100000; 10000 with --quick)")
    parser.add_argument("--out", default=str(OUT), help="where results and plots go (default docs/bench)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target does not hold")
    parser.add_argument("--replot", action="store_true", help="only redraw the plots from OUT/results.json")
    parser.add_argument("--checked-only", action="store_true",
                        help="only ours (the default checked write) against on_conflict=overwrite on the write rows (default 15 rounds), to OUT/checked.txt")
    args = parser.parse_args(argv)
    if args.checked_only:
        return checked_only(args.rounds or (2 if args.quick else 15), args.seconds or (0.05 if args.quick else 0.25),
                            Path(args.out), args.strict)
    if args.replot:
        out = Path(args.out)
        results = load_results(out / "results.json")
        plot(results, main_rows(), out / "throughput.png", out / "size.png")
        return 0
    rounds = args.rounds or (2 if args.quick else 7)
    seconds = args.seconds or (0.05 if args.quick else 0.25)
    soak_n = args.soak if args.soak is not None else (10_000 if args.quick else 100_000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    report = Report()
    v181 = find_v181(args.v181_python)
    started = time.time()
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        redis_version = client.info("server")["redis_version"]
        # Every worker runs redis-py's own parser, as a default install does; one
        # extra worker measures ours with hiredis when the benchmark venv has it.
        # With two or more CPUs, workers share one CPU and redis-server gets
        # another, so that where the scheduler puts them does not decide a ratio.
        pinned = _pin(server)
        plain = {"BENCH_NO_HIREDIS": "1", **pinned}
        workers = {impl: WorkerProcess(impl, sys.executable, plain)
                   for impl in ("ours", "floor", "floor+codec", "none", "signed")}
        if v181:
            # Never this checkout, even when PYTHONPATH points the ours workers at it.
            workers["v181"] = WorkerProcess("v181", v181, {**plain, "PYTHONPATH": ""})
        if _has("hiredis"):
            workers["ours+hiredis"] = WorkerProcess("ours+hiredis", sys.executable, pinned)
        if _has("msgspec"):
            workers["ours+msgspec"] = WorkerProcess("ours+msgspec", sys.executable, plain)
        workers["ours+overwrite"] = WorkerProcess("ours+overwrite", sys.executable, plain)
        workers["ours+cache"] = WorkerProcess("ours+cache", sys.executable, plain)
        # The checked-write script (ours' default write), cached as on any server that has run it once
        # (FLUSHALL between rows keeps it): no batch pays or counts the first
        # EVALSHA's NOSCRIPT and the EVAL that follows it.
        client.script_load(CHECKED_WRITE)
        try:
            ours_info = workers["ours"].info
            report.say(f"pyramid_session_redis benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
            report.say(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
                       f"Python {ours_info['python']}; redis-server {redis_version}; redis-py {ours_info['redis_py']}, "
                       f"hiredis {'on' if ours_info['hiredis'] else 'off'}")
            report.say(f"ours: {ours_info['package']} ({ours_info['package_file']})")
            if v181:
                info = workers["v181"].info
                report.say(f"1.8.1 baseline: {info['package']} ({info['package_file']}), hiredis {'on' if info['hiredis'] else 'off'}")
            else:
                report.say("1.8.1 baseline: not found (run scripts/bench.sh, or pass --v181-python); skipped")
            report.say(f"method: in-process WSGI calls, {rounds} interleaved rounds of {seconds} s per implementation and row"
                       + ("; workers pinned to CPU 0, redis-server to CPU 1" if pinned else ""))
            report.say()
            report.say(LEGEND)

            results: Dict[Row, Result] = {}
            for group in (main_rows(), serializer_rows(), size_rows()):
                for row in group:
                    if row not in results:
                        results[row] = measure(row, workers, client, server.url, rounds, seconds)
            table(report, "In-process throughput (defaults: JSON for ours, pickle for 1.8.1 as each ships)",
                  [results[r] for r in main_rows()])
            table(report, "Serializers on a 10 KB session (serializer = orjson, serializer = msgspec)",
                  [results[r] for r in serializer_rows()])
            report.say("Cost against session size (ms per request)")
            report.say(f"{'size':>8s} {'ours read':>10s} {'floor':>8s} {'1.8.1':>8s} {'ours write':>11s} {'floor':>8s} {'1.8.1':>8s}")
            for size in SIZES:
                cells = []
                for scenario in ("read", "write"):
                    res = results[Row(scenario, "default", size)]
                    for impl in ("ours", "floor", "v181"):
                        cells.append(f"{res.us(impl) / 1000:8.3f}" if impl in res.per_impl else f"{'':8s}")
                report.say(f"{_size_name(size):>8s}   {cells[0]} {cells[1]} {cells[2]}    {cells[3]} {cells[4]} {cells[5]}")
            report.say()

            cache_table(report, [res for res in results.values() if "ours+cache" in res.per_impl])

            client.flushall()
            serial = workers["ours"].call("count_serializations", redis_url=server.url, size=K100, n=200)
            soak = cache_soak = None
            if soak_n:
                client.flushall()
                every = max(soak_n // 10, 1)
                soak = workers["ours"].call("soak", redis_url=server.url, n=soak_n, every=every)
                report.say(f"Memory over {soak_n:,} requests (cycle of new / read / write / nested; tracemalloc on; "
                           f"{soak['elapsed']:.1f} s)")
                report.say(f"{'requests':>9s} {'RSS KiB':>9s} {'traced KiB':>11s} {'gc objects':>11s}")
                for s in soak["samples"]:
                    report.say(f"{s['requests']:9,d} {s['rss'] / 1024:9.0f} {s['traced'] / 1024:11.1f} {s['objects']:11,d}")
                report.say()
                client.flushall()
                sessions = LOCAL_CACHE * 2
                cache_soak = workers["ours+cache"].call("cache_soak", redis_url=server.url, n=soak_n,
                                                        every=every, sessions=sessions)
                report.say(f"Memory of ours+cache over {soak_n:,} read-only requests of {sessions:,} sessions "
                           f"of 1 KB (local_cache = {LOCAL_CACHE:,}: full and evicting throughout; "
                           f"{cache_soak['elapsed']:.1f} s)")
                report.say(f"{'requests':>9s} {'RSS KiB':>9s} {'entries':>8s} {'cache KiB':>10s}")
                for s in cache_soak["samples"]:
                    report.say(f"{s['requests']:9,d} {s['rss'] / 1024:9.0f} {s['entries']:8,d} "
                               f"{s['cache_bytes'] / 1024:10.0f}")
                report.say()
        finally:
            for worker in workers.values():
                worker.close()

        http_results = None
        if not args.no_http:
            from . import overhttp

            http_results = overhttp.run(report, server.url, v181, quick=args.quick)

    check_targets(report, results, serial, soak)
    held = sum(ok for _, ok, _ in report.targets)
    report.say(f"Targets: {held} of {len(report.targets)} hold")
    for name, ok, detail in report.targets:
        report.say(f"  {'ok  ' if ok else 'MISS'} {name}: {detail}")
    report.say(f"(run took {time.time() - started:.0f} s)")

    plot(results, main_rows(), out / "throughput.png", out / "size.png")
    (out / "results.txt").write_text("\n".join(report.lines) + "\n")
    raw = {
        "rows": [
            {"scenario": r.scenario, "policy": r.policy, "size": r.size,
             "runs": dict(res.per_impl.items()), "commands": res.commands}
            for r, res in results.items()
        ],
        "http": http_results, "soak": soak, "cache_soak": cache_soak, "serializations": serial,
    }
    (out / "results.json").write_text(json.dumps(raw, indent=1) + "\n")
    print(f"wrote {out / 'results.txt'}, results.json, throughput.png, size.png")
    if args.strict and held != len(report.targets):
        return 1
    return 0
