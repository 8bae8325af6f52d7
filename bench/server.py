"""Server benchmark: a real `taishan serve` over loopback, on SQLite and PostgreSQL, with the demo data loaded.

Run from the repository root (part of `make bench`):

    python -m bench.server                        # table + bench/results/server.json, about 10 minutes
    python -m bench.server --quick                # SQLite only, small N, a short load: the smoke test's mode
    python -m bench.server --backends postgres --workers 2,3 --pool-max 20 --profile

For each back end: a fresh database (PostgreSQL: `taishan_bench_<hex>`, dropped afterwards), `taishan demo`
loads the shipped rules and the demo data (~57k rows), then a `taishan serve` subprocess is measured:

1. single-observation POSTs that raise and resolve an alert (`ind_va` of 新泰 at the last complete month,
   25.0 fires `ind_va_range`, 6.0 resolves it); every answer must carry the expected transition, so what
   is timed is real alert persistence (target: median < 20 ms, p99 < 100 ms);
2. one POST of a 10,000-row monthly batch: the newest monthly rows of the demo data scaled by a factor
   that differs per run, so every row is a new vintage (target < 3 s; accepted == rows is checked);
3. load: 2,000 clients, each on its own keep-alive connection asking a dashboard query every 2 s for 60 s
   (`bench/load.py`, a separate process), for every worker count asked for (target: no errors, p99 <
   300 ms). The CPU used by the generator and by the server's processes is measured from /proc and
   getrusage, since both share the machine's two cores. `--profile` samples the server with py-spy
   meanwhile and prints where its time goes.

Times are client-side (httpx over loopback, write to last byte); medians and p99 by nearest rank.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench.load import percentiles
from engine.panel import last_complete
from engine.periods import Period

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
RESULTS = ROOT / "results" / "server.json"
PG = os.environ.get("TAISHAN_BENCH_PG", "postgres://postgres@127.0.0.1:5432")

TARGETS = {"post_median_ms": 20.0, "post_p99_ms": 100.0, "batch_s": 3.0, "batch_rows": 10_000, "load_p99_ms": 300.0}
DASHBOARD = ("/api/v1/alerts?state=firing&limit=20", "/api/v1/series?indicator=gdp&entity=taian&from=2024Q1",
             "/api/v1/latest?indicator=ind_va")
FIRE, RESOLVE = 25.0, 6.0  # ind_va_range: fires above 20, recovers within [-3, 18]
ALERT_RULE, ALERT_INDICATOR, ALERT_ENTITY = "ind_va_range", "ind_va", "xintai"
WARMUP_POSTS = 4
USER, PASSWORD = "bench", "Load-Test-Passw0rd-2026!"


@dataclass(frozen=True)
class Plan:
    backends: tuple[str, ...]
    posts: int
    batch_rows: int
    batch_runs: int
    clients: int
    interval_s: float
    duration_s: float
    workers: tuple[int, ...]  # load runs on PostgreSQL; SQLite always serves with one worker
    sessions: int  # signed-in sessions the load's clients share (a cache miss costs a session lookup)
    pool_max: int | None = None  # asyncpg pool size for the server (Tortoise's default is 5)
    profile: bool = False


FULL = Plan(("sqlite", "postgres"), posts=200, batch_rows=10_000, batch_runs=3, clients=2000, interval_s=2.0,
            duration_s=60.0, workers=(2, 3), sessions=200)
QUICK = Plan(("sqlite",), posts=20, batch_rows=1000, batch_runs=1, clients=50, interval_s=0.5, duration_s=3.0,
             workers=(1,), sessions=3)


# ----------------------------------------------------------------------------- databases and servers


def database_url(backend: str, folder: Path) -> str:
    name = f"taishan_bench_{uuid.uuid4().hex[:10]}"
    return f"sqlite://{folder}/{name}.sqlite3" if backend == "sqlite" else f"{PG}/{name}"


def create_database(url: str) -> None:
    from server.store import close_store, open_store

    async def create() -> None:
        await open_store(url, create=not url.startswith("sqlite"))
        await close_store()

    asyncio.run(create())


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    from server.store import drop_store, open_store

    async def drop() -> None:
        await open_store(url)
        await drop_store()

    asyncio.run(drop())


def create_user(url: str) -> None:
    """The bench's own account: a statistician may write data and read alerts."""
    subprocess.run([*taishan(), "user", "add", USER, "--role", "statistician", "--db", url, "--password-stdin"],
                   cwd=REPO, input=PASSWORD, capture_output=True, text=True, check=True)


def sign_in(base: str, sessions: int) -> list[str]:
    """One access token per session, as many signed-in users would hold (each login is an argon2 check)."""
    tokens = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(sessions):
            response = client.post("/api/v1/auth/login", json={"username": USER, "password": PASSWORD})
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
    return tokens


def load_demo(url: str, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([*taishan(), "demo", "--db", url, "--out", str(folder / "demo.csv")], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return {"seconds": round(time.perf_counter() - started, 2), "output": done.stdout.strip()}


def taishan() -> list[str]:
    script = Path(sys.executable).with_name("taishan")
    return [str(script)] if script.exists() else [sys.executable, "-m", "server.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`taishan serve` as a subprocess in its own session; its CPU is summed over the process tree."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.url, self.workers, self.log_path = url, workers, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*taishan(), "serve", "--db", self.url, "--port", str(self.port), "--workers", str(self.workers)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200 and self._all_workers_up():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server did not answer within {timeout:.0f} s: {self.log_tail()}")

    def _all_workers_up(self) -> bool:
        return self.log_path.read_text(errors="replace").count("Starting worker") >= self.workers or \
            self.url.startswith("sqlite")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def pids(self) -> list[int]:
        assert self.process is not None
        return process_tree(self.process.pid)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextmanager
def serving(url: str, workers: int, log: Path) -> Iterator[Server]:
    server = Server(url, workers, log)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def process_tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += process_tree(int(child))
    return found


def database_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving this database (the server's pooled connections); none for SQLite."""
    if url.startswith("sqlite"):
        return []
    import asyncpg

    async def pids() -> list[int]:
        conn = await asyncpg.connect(url.split("?", 1)[0])
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")
        finally:
            await conn.close()
        return [int(r["pid"]) for r in rows]

    return asyncio.run(pids())


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (every process, ours and others'), from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- 1. single observations


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def measure_posts(base: str, token: str, n: int) -> dict[str, Any]:
    """Alternate a value that fires the alert and one that resolves it; every answer must say so."""
    period = str(last_complete("monthly", datetime.date.today()))
    latencies, server_side, cold = [], [], None
    with httpx.Client(base_url=base, timeout=60, headers=bearer(token)) as client:
        for k in range(WARMUP_POSTS + n):
            value, expected = (FIRE, "firing") if k % 2 == 0 else (RESOLVE, "resolved")
            body = {"observations": [{"indicator": ALERT_INDICATOR, "entity": ALERT_ENTITY, "period": period,
                                      "value": value}]}
            started = time.perf_counter()
            response = client.post("/api/v1/observations", json=body)
            elapsed = time.perf_counter() - started
            answer = response.json()
            moved = [t["new"] for t in answer.get("transitions", [])
                     if t["rule"] == ALERT_RULE and t["entity"] == ALERT_ENTITY and t["period"] == period]
            if response.status_code != 201 or moved != [expected]:
                raise RuntimeError(f"POST {k}: expected a {expected} transition, got {response.status_code} {moved}")
            if k == 0:
                cold = elapsed
            if k >= WARMUP_POSTS:
                latencies.append(elapsed)
                server_side.append(answer["seconds"])
    return {"n": n, "period": period, "cold_ms": round((cold or 0) * 1000, 2), "transitions_checked": n,
            "latency_ms": percentiles(latencies), "server_ingest_ms": percentiles(server_side)}


# ----------------------------------------------------------------------------- 2. a monthly batch


def batch_rows(rows: list[dict], n: int, factor: float) -> list[dict]:
    """The newest `n` monthly demo rows, values scaled so that each is a new vintage (zeros would stay equal)."""
    newest = last_complete("monthly", datetime.date.today())
    monthly = [r for r in rows if Period.parse(str(r["period"])).freq == "monthly"
               and Period.parse(str(r["period"])) <= newest and float(r["value"]) != 0]
    monthly.sort(key=lambda r: (Period.parse(str(r["period"])), r["indicator"], r["entity"]), reverse=True)
    if len(monthly) < n:
        raise RuntimeError(f"the demo data has only {len(monthly)} monthly rows, {n} asked for")
    return [{**r, "value": round(float(r["value"]) * factor, 4)} for r in monthly[:n]]


def measure_batch(base: str, token: str, demo: list[dict], n: int, runs: int) -> dict[str, Any]:
    seconds, server_side, transitions = [], [], []
    with httpx.Client(base_url=base, timeout=300, headers=bearer(token)) as client:
        for run in range(runs):
            rows = batch_rows(demo, n, 1.0 + 0.02 * (run + 1))
            started = time.perf_counter()
            response = client.post("/api/v1/observations", json={"observations": rows})
            elapsed = time.perf_counter() - started
            answer = response.json()
            if response.status_code != 201 or answer["rows"] != n or answer["accepted"] != n:
                raise RuntimeError(f"batch {run}: {response.status_code}, "
                                   f"{ {k: answer.get(k) for k in ('rows', 'accepted', 'unchanged')} }")
            seconds.append(elapsed)
            server_side.append(answer["seconds"])
            transitions.append(len(answer["transitions"]))
    periods = sorted({r["period"] for r in batch_rows(demo, n, 1.0)})
    return {"rows": n, "runs": runs, "periods": f"{periods[0]}..{periods[-1]}", "median_s": statistics.median(seconds),
            "all_s": [round(s, 3) for s in seconds], "server_ingest_median_s": statistics.median(server_side),
            "transitions": transitions}


# ----------------------------------------------------------------------------- 3. load


def answering_paths(base: str, token: str) -> tuple[list[str], list[str]]:
    """The dashboard queries this server answers, and those it does not (e.g. a route not written yet)."""
    good, missing = [], []
    with httpx.Client(base_url=base, timeout=30, headers=bearer(token)) as client:
        for path in DASHBOARD:
            (good if client.get(path).status_code == 200 else missing).append(path)
    return good, missing


def measure_load(server: Server, tokens: list[str], plan: Plan, folder: Path) -> dict[str, Any]:
    paths, missing = answering_paths(server.base, tokens[0])
    token_file = folder / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    command = [sys.executable, "-m", "bench.load", "--url", server.base, "--clients", str(plan.clients),
               "--interval", str(plan.interval_s), "--duration", str(plan.duration_s), "--tokens", str(token_file)]
    command += [arg for path in paths for arg in ("--path", path)]
    spy = start_profiler(server, plan, folder) if plan.profile else None
    per_process = {pid: cpu_seconds(pid) for pid in server.pids()}
    database = {pid: cpu_seconds(pid) for pid in database_pids(server.url)}
    cpu_before, busy_before, started = server.cpu_seconds(), machine_busy_seconds(), time.perf_counter()
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    server_cpu, busy = server.cpu_seconds() - cpu_before, machine_busy_seconds() - busy_before
    result = json.loads(done.stdout)
    # Backends the pool opened during the run count whole; one that closed meanwhile is missed.
    database_cpu = sum(cpu_seconds(pid) - database.get(pid, 0.0) for pid in database_pids(server.url))
    others = busy - server_cpu - result["cpu_s"] - database_cpu
    # Keep-alive connections stay with the worker that accepted them: how evenly did the work spread?
    per_process = {pid: round(cpu_seconds(pid) - before, 2) for pid, before in per_process.items()}
    result.update(workers=server.workers, pool_max=plan.pool_max, sessions=len(tokens), paths=paths,
                  paths_missing=missing,
                  server_cpu_s=round(server_cpu, 2), server_cpu_cores=round(server_cpu / wall, 2),
                  server_cpu_ms_per_request=round(server_cpu / max(1, result["answered"]) * 1000, 3),
                  server_cpu_by_process_s=sorted(per_process.values(), reverse=True),
                  database_cpu_cores=round(database_cpu / wall, 2),
                  database_cpu_ms_per_request=round(database_cpu / max(1, result["answered"]) * 1000, 3),
                  machine_busy_cores=round(busy / wall, 2), other_processes_cores=round(others / wall, 2),
                  load_average=(load_before, os.getloadavg()[0]))
    if spy is not None:
        result["profile"] = finish_profiler(*spy)
    return result


# ----------------------------------------------------------------------------- profiling


def start_profiler(server: Server, plan: Plan, folder: Path) -> tuple[subprocess.Popen[bytes], Path] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not found: no profile", file=sys.stderr)
        return None
    out = folder / f"pyspy_{server.workers}.txt"
    seconds = max(1, int(plan.duration_s) - 2)
    process = subprocess.Popen([spy, "record", "--pid", str(server.process.pid), "--subprocesses",  # type: ignore
                                "--duration", str(seconds), "--rate", "50", "--format", "raw", "--nonblocking",
                                "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process, out


def finish_profiler(process: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    process.wait(60)
    if not out.exists():
        return {"error": (process.stderr.read() if process.stderr else b"").decode(errors="replace")[-500:]}
    return summarize_stacks(out.read_text().splitlines())


def summarize_stacks(lines: Sequence[str], top: int = 15) -> dict[str, Any]:
    """Own time by leaf frame and inclusive time by package, from py-spy's collapsed stacks."""
    own, inclusive, idle, total = Counter(), Counter(), 0, 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        if "select (selectors.py" in leaf or "run_forever" in leaf:
            idle += count
        own[leaf] += count
        for package in {_package(f) for f in frames}:
            inclusive[package] += count
    return {"samples": total, "idle_share": round(idle / total, 3) if total else 0.0,
            "own": [{"share": round(c / total, 3), "frame": f} for f, c in own.most_common(top)],
            "packages": {p: round(c / total, 3) for p, c in inclusive.most_common(top)}}


def _package(frame: str) -> str:
    """`handler (server/api/alerts.py:30)` -> `server`; `f (/usr/lib/python3.11/json/encoder.py:2)` -> `json`."""
    location = frame.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if not location.endswith(".py"):
        return "(process)" if frame.startswith("process ") else "(native)"
    location = location.split("site-packages/", 1)[-1].split("/python3.11/", 1)[-1]
    return location.lstrip("/").split("/", 1)[0].removesuffix(".py")


# ----------------------------------------------------------------------------- a run


def run_backend(backend: str, plan: Plan, demo: list[dict], folder: Path) -> dict[str, Any]:
    url = database_url(backend, folder)
    url_served = f"{url}?minsize=1&maxsize={plan.pool_max}" if backend == "postgres" and plan.pool_max else url
    create_database(url)
    try:
        out: dict[str, Any] = {"demo": load_demo(url, folder)}
        create_user(url)
        worker_counts = (1,) if backend == "sqlite" else plan.workers
        out["load"] = []
        for n, workers in enumerate(worker_counts):
            with serving(url_served, workers, folder / f"serve_{backend}_{workers}.log") as server:
                tokens = sign_in(server.base, plan.sessions)
                if n == 0:
                    out["post"] = measure_posts(server.base, tokens[0], plan.posts)
                    out["batch"] = measure_batch(server.base, tokens[0], demo, plan.batch_rows, plan.batch_runs)
                out["load"].append(measure_load(server, tokens, plan, folder))
        return out
    finally:
        drop_database(url)


def run(plan: Plan) -> dict[str, Any]:
    from server.demo import generate

    demo = generate(seed=2026)
    results: dict[str, Any] = {"machine": machine(), "plan": asdict(plan), "targets": TARGETS, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="taishan_bench_") as tmp:
        for backend in plan.backends:
            results["backends"][backend] = run_backend(backend, plan, demo, Path(tmp))
    return results


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_average": os.getloadavg()}


# ----------------------------------------------------------------------------- report


def table(results: dict[str, Any]) -> str:
    backends = list(results["backends"])
    rows = [("measure", *backends, "target", "ok"), *_phase_rows(results)]
    lines = [_format_row(r, rows) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n\n" + load_table(results)


def _phase_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    b = results["backends"]
    names = list(b)
    first = b[names[0]]
    post_ok = all(v["post"]["latency_ms"]["p50"] < TARGETS["post_median_ms"]
                  and v["post"]["latency_ms"]["p99"] < TARGETS["post_p99_ms"] for v in b.values())
    full_batch = first["batch"]["rows"] >= TARGETS["batch_rows"]
    batch_ok = all(v["batch"]["median_s"] < TARGETS["batch_s"] for v in b.values())
    return [
        ("demo load (taishan demo)", *(f"{v['demo']['seconds']:.1f} s" for v in b.values()), "", ""),
        (f"POST 1 row + alert ({first['post']['n']}), median",
         *(f"{v['post']['latency_ms']['p50']:.1f} ms" for v in b.values()), "< 20 ms", ""),
        ("  p90 / p99 / max", *(_spread(v["post"]["latency_ms"]) for v in b.values()), "p99 < 100 ms",
         _ok(post_ok)),
        ("  server-side ingest, median", *(f"{v['post']['server_ingest_ms']['p50']:.1f} ms" for v in b.values()),
         "", ""),
        ("  first POST after start", *(f"{v['post']['cold_ms']:.0f} ms" for v in b.values()), "", ""),
        (f"POST {first['batch']['rows']:,}-row batch, median of {first['batch']['runs']}",
         *(f"{v['batch']['median_s']:.2f} s" for v in b.values()), "< 3 s" if full_batch else "",
         _ok(batch_ok) if full_batch else ""),
        ("  server-side ingest, median", *(f"{v['batch']['server_ingest_median_s']:.2f} s" for v in b.values()),
         "", ""),
        ("  alert transitions per batch", *(",".join(map(str, v["batch"]["transitions"])) for v in b.values()),
         "", ""),
    ]


def _spread(p: dict[str, float]) -> str:
    return f"{p['p90']:.1f} / {p['p99']:.1f} / {p['max']:.0f} ms"


def _format_row(row: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(row))]
    return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def load_table(results: dict[str, Any]) -> str:
    head = ("load", "workers", "pool", "offered", "achieved", "p50", "p90", "p99", "max", "errors",
            "client CPU", "server CPU", "PG CPU", "others' CPU", "ok")
    rows = [head]
    for backend, v in results["backends"].items():
        for r in v["load"]:
            lat = r["latency_ms"]
            ok = r["errors"] == 0 and lat["p99"] < TARGETS["load_p99_ms"]
            rows.append((backend, str(r["workers"]), str(r["pool_max"] or "default"), f"{r['offered_rps']:.0f}/s",
                         f"{r['achieved_rps']:.0f}/s", f"{lat['p50']:.1f}", f"{lat['p90']:.1f}", f"{lat['p99']:.1f}",
                         f"{lat['max']:.0f}", str(r["errors"]), f"{r['cpu_cores']:.2f}", f"{r['server_cpu_cores']:.2f}",
                         f"{r['database_cpu_cores']:.2f}", f"{r['other_processes_cores']:.2f}", _ok(ok)))
    lines = [_format_row(r, rows) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    first = next(iter(results["backends"].values()))["load"][0]
    notes = [f"{first['clients']:,} clients, one request every {first['interval_s']:g} s each for "
             f"{first['duration_s']:g} s; latency in ms (target: p99 < 300 ms, no errors); CPU in cores used "
             "(PG: the backends of the server's connections; others': every other process on the machine)",
             f"queries: {', '.join(first['paths'])}"]
    if first["paths_missing"]:
        notes.append(f"not answering, left out: {', '.join(first['paths_missing'])}")
    return "\n".join([*lines, *notes])


def print_details(results: dict[str, Any]) -> None:
    for backend, v in results["backends"].items():
        for r in v["load"]:
            print(f"\n{backend}, {r['workers']} worker(s): server CPU {r['server_cpu_ms_per_request']:.2f} ms per "
                  f"request (by process: {', '.join(f'{c:.1f}' for c in r['server_cpu_by_process_s'])} s), "
                  f"PostgreSQL {r['database_cpu_ms_per_request']:.2f} ms; "
                  f"machine busy {r['machine_busy_cores']:.2f} cores, load average "
                  f"{r['load_average'][0]:.1f} -> {r['load_average'][1]:.1f}")
            print(f"  connect p99 {r['connect_ms']['p99']:.1f} ms, generator schedule lag p99 "
                  f"{r['schedule_lag_ms']['p99']:.1f} ms, its loop lag p99 {r['loop_lag_ms']['p99']:.1f} ms; "
                  f"statuses {r['statuses']}, errors {r['error_kinds'] or 'none'}")
            for path, p in r["per_path_ms"].items():
                print(f"  {path}: p50 {p['p50']:.1f}  p90 {p['p90']:.1f}  p99 {p['p99']:.1f}  max {p['max']:.0f} ms")
            if "profile" in r and "own" in r["profile"]:
                prof = r["profile"]
                print(f"  py-spy: {prof['samples']} samples, idle {prof['idle_share']:.0%}; by package: "
                      + ", ".join(f"{k} {s:.0%}" for k, s in list(prof["packages"].items())[:10]))
                for item in prof["own"][:12]:
                    print(f"    {item['share']:6.1%}  {item['frame']}")


def _ok(flag: bool) -> str:
    return "yes" if flag else "MISSED"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="SQLite only, small N, a 3-second load (smoke test)")
    parser.add_argument("--backends", help="comma-separated: sqlite,postgres")
    parser.add_argument("--workers", help="worker counts for the PostgreSQL load runs, e.g. 2,3")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--duration", type=float, help="seconds of load")
    parser.add_argument("--posts", type=int)
    parser.add_argument("--sessions", type=int, help="signed-in sessions shared by the load's clients")
    parser.add_argument("--pool-max", type=int, help="the server's asyncpg pool size (URL ?maxsize=)")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy under load")
    parser.add_argument("--out", type=Path, help="where to write the JSON")
    args = parser.parse_args(argv)
    plan = _plan(args)
    started = time.perf_counter()
    results = run(plan)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    print(table(results))
    print_details(results)
    path = args.out or (RESULTS.with_name("server_quick.json") if args.quick else RESULTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {path} in {results['wall_s']:.0f} s")


def _plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    changes: dict[str, Any] = {"profile": args.profile, "pool_max": args.pool_max}
    if args.backends:
        changes["backends"] = tuple(args.backends.split(","))
    if args.workers:
        changes["workers"] = tuple(int(w) for w in args.workers.split(","))
    for name, field_name in (("clients", "clients"), ("duration", "duration_s"), ("posts", "posts"),
                             ("sessions", "sessions")):
        if getattr(args, name) is not None:
            changes[field_name] = getattr(args, name)
    return replace(plan, **changes)


if __name__ == "__main__":
    main()
