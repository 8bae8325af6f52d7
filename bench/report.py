"""Render time of the monthly brief on the demo data: the city's and a county's, HTML and PDF.

Run from the repository root (part of `make bench`, not of the test suite):

    python -m bench.report            # 20 HTML and 5 PDF renders per region; table + bench/results/report.json
    python -m bench.report --quick    # 5 HTML and 2 PDF renders

The demo data (`taishan demo`) goes into a temporary SQLite file first. HTML time is the whole brief: reading
the month's alerts from the store, composing the text from the in-memory panel, drawing the SVG charts. PDF
time adds printing that page with chromium (a fresh browser per brief, as the API does).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server import reports
from server.service import Service
from server.store import close_store, open_store

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "report.json"
RULES = [str(ROOT.parent / "rules" / "taian")]
PERIOD = "2026-10"
TODAY = datetime.date(2026, 11, 28)  # the demo data ends at 2026-10 on this day
REGIONS = ("taian", "xintai")


async def timed(service: Service, entity: str, fmt: str, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        await reports.render(service, entity, PERIOD, fmt)
        seconds.append(time.perf_counter() - started)
    return seconds


async def measure(url: str, html_runs: int, pdf_runs: int) -> list[dict]:
    await open_store(url)
    try:
        service = Service(RULES, today=TODAY)
        await service.start()
        results = []
        for entity in REGIONS:
            for fmt, runs in (("html", html_runs), ("pdf", pdf_runs)):
                if fmt == "pdf" and not Path(reports.CHROMIUM).exists():
                    continue
                seconds = await timed(service, entity, fmt, runs)
                size = len(await reports.render(service, entity, PERIOD, fmt))
                results.append({"entity": entity, "format": fmt, "runs": runs, "bytes": size,
                                "median_ms": round(statistics.median(seconds) * 1000, 1),
                                "max_ms": round(max(seconds) * 1000, 1)})
        return results
    finally:
        await close_store()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    html_runs, pdf_runs = (5, 2) if args.quick else (20, 5)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{folder}/demo.sqlite3"
        taishan = Path(sys.executable).parent / "taishan"
        subprocess.run([str(taishan), "demo", "--db", url], check=True, capture_output=True)
        results = asyncio.run(measure(url, html_runs, pdf_runs))
    print(f"{'region':<10}{'format':<8}{'runs':>6}{'median ms':>12}{'max ms':>10}{'bytes':>10}")
    for r in results:
        print(f"{r['entity']:<10}{r['format']:<8}{r['runs']:>6}{r['median_ms']:>12}{r['max_ms']:>10}{r['bytes']:>10}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"period": PERIOD, "results": results}, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
