"""`/healthz` for load balancers and `/metrics` in the Prometheus text format."""

from __future__ import annotations

import os
import time
from collections import defaultdict

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, text
from tortoise.connection import get_connection
from tortoise.functions import Count

from server.store.models import Alert, Observation

bp = Blueprint("health")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Counts and a latency histogram per (method, route, status), kept per worker."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.counts[(method, route, status)] += 1
        key = (method, route)
        self.sums[key] += seconds
        histogram = self.buckets[key]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                histogram[i] += 1
        histogram[-1] += 1

    def lines(self, worker: str) -> list[str]:
        out = ["# HELP taishan_http_requests_total HTTP requests answered.",
               "# TYPE taishan_http_requests_total counter"]
        for (method, route, status), count in sorted(self.counts.items()):
            out.append(f'taishan_http_requests_total{{worker="{worker}",method="{method}",route="{route}",'
                       f'status="{status}"}} {count}')
        out += ["# HELP taishan_http_request_duration_seconds Time to answer a request.",
                "# TYPE taishan_http_request_duration_seconds histogram"]
        for (method, route), histogram in sorted(self.buckets.items()):
            labels = f'worker="{worker}",method="{method}",route="{route}"'
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], histogram, strict=True):
                out.append(f'taishan_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}')
            out.append(f"taishan_http_request_duration_seconds_sum{{{labels}}} {self.sums[(method, route)]:.6f}")
            out.append(f"taishan_http_request_duration_seconds_count{{{labels}}} {histogram[-1]}")
        return out


@bp.get("/healthz", ctx_permission="public")
async def healthz(request: Request) -> HTTPResponse:
    """Alive, with the store reachable and a rule set active."""
    service = request.app.ctx.service
    try:
        await get_connection("default").execute_query("SELECT 1")
    except Exception:
        return json({"status": "error", "store": "unreachable"}, status=503)
    return json({"status": "ok", "ruleset_version": service.version, "data_version": service.data_version})


@bp.get("/metrics", ctx_permission="public")
async def metrics(request: Request) -> HTTPResponse:
    """Requests, latencies, evaluation time, alert counts (by state and severity) and the outbox depth."""
    service = request.app.ctx.service
    worker = str(os.getpid())
    lines = request.app.ctx.request_metrics.lines(worker)
    m = service.metrics
    lines += _gauge("taishan_evaluations_total", "Engine evaluations run by this worker.", "counter",
                    [(f'worker="{worker}"', m.evaluations)])
    lines += _gauge("taishan_evaluation_seconds_total", "Time spent evaluating rules.", "counter",
                    [(f'worker="{worker}"', round(m.evaluation_seconds, 6))])
    lines += _gauge("taishan_ingested_batches_total", "Batches stored by this worker.", "counter",
                    [(f'worker="{worker}"', m.batches)])
    lines += _gauge("taishan_rejected_batches_total", "Batches refused for bad rows.", "counter",
                    [(f'worker="{worker}"', m.rejected_batches)])
    counts = await Alert.annotate(n=Count("id")).group_by("state", "severity").values_list("state", "severity", "n")
    lines += _gauge("taishan_alerts", "Alerts by state and severity.", "gauge",
                    [(f'state="{s}",severity="{v}"', n) for s, v, n in sorted(counts)])
    lines += _gauge("taishan_observations", "Stored observations, every vintage.", "gauge",
                    [("", await Observation.all().count())])
    lines += _gauge("taishan_ruleset_version", "The active rule-set version.", "gauge", [("", service.version)])
    for name, (help_text, value) in request.app.ctx.extra_metrics.items():
        lines += _gauge(name, help_text, "gauge", [("", await value())])
    lines += _gauge("taishan_uptime_seconds", "Seconds since this worker started.", "gauge",
                    [(f'worker="{worker}"', round(time.monotonic() - request.app.ctx.started, 1))])
    return text("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")


def _gauge(name: str, help_text: str, kind: str, samples: list[tuple[str, float]]) -> list[str]:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    out += [f"{name}{{{labels}}} {value}" if labels else f"{name} {value}" for labels, value in samples]
    return out
