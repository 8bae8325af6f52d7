"""Change point detection: accuracy on the annotated evaluation set, and speed.

Run from the repository root:

    python -m bench.changepoints             # accuracy + speed, table + bench/results/changepoints.json
    python -m bench.changepoints --tune      # grid over the settings (prints the best)
    python -m bench.changepoints --rebuild-data   # regenerate bench/data/changepoints/*.json

Metrics follow van den Burg & Williams (2020), "An Evaluation of Change Point Detection
Algorithms" (TCPDBench): F1 with a margin of 5 periods and the segmentation cover, with
index 0 added to every prediction and annotation set, recall averaged over annotators,
and cover averaged over the annotators' partitions. Scores are averaged over series.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import ruptures as rpt

from engine import changepoints as cp

ROOT = Path(__file__).resolve().parent
DATA_DIR = ROOT / "data" / "changepoints"
RESULTS = ROOT / "results" / "changepoints.json"
MARGIN = 5

Detector = Callable[[np.ndarray], list[int]]


# --- metrics (TCPDBench definitions, own implementation) ----------------------------


def true_positives(truth: Iterable[int], predicted: Iterable[int], margin: int = MARGIN) -> set[int]:
    """Annotations matched by a prediction within ``margin``; each prediction used once.

    Annotations are visited in increasing order and take their closest free prediction
    (ties to the earlier one), as in TCPDBench's ``true_positives``.
    """
    free = sorted(set(predicted))
    hits: set[int] = set()
    for tau in sorted(set(truth)):
        close = [(abs(tau - x), x) for x in free if abs(tau - x) <= margin]
        if close:
            hits.add(tau)
            free.remove(min(close)[1])
    return hits


def f_measure(annotations: dict[str, Sequence[int]], predictions: Sequence[int], margin: int = MARGIN) -> float:
    """F1 against several annotators: precision on the union, recall averaged over them."""
    per_user = [set(a) | {0} for a in annotations.values()]
    predicted = set(predictions) | {0}
    union = set().union(*per_user)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    recall = sum(len(true_positives(t, predicted, margin)) / len(t) for t in per_user) / len(per_user)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _segments(locations: Iterable[int], n_obs: int) -> list[tuple[int, int]]:
    """Half-open [start, end) segments of 0..n_obs-1 cut at the given locations."""
    cuts = sorted({c for c in locations if 0 < c < n_obs})
    edges = [0, *cuts, n_obs]
    return list(itertools.pairwise(edges))


def _jaccard(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union


def cover_single(predicted: list[tuple[int, int]], truth: list[tuple[int, int]]) -> float:
    """Cover of partition ``truth`` by ``predicted`` (Arbelaez et al. 2010, eq. 8)."""
    n_obs = sum(b - a for a, b in truth)
    return sum((b - a) * max(_jaccard((a, b), p) for p in predicted) for a, b in truth) / n_obs


def covering(annotations: dict[str, Sequence[int]], predictions: Sequence[int], n_obs: int) -> float:
    predicted = _segments(predictions, n_obs)
    covers = [cover_single(predicted, _segments(a, n_obs)) for a in annotations.values()]
    return sum(covers) / len(covers)


# --- the evaluation set -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    subset: str
    kind: str
    values: np.ndarray
    annotations: dict[str, list[int]]


def load_dataset(directory: Path = DATA_DIR) -> list[Series]:
    out = []
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        values = np.array([math.nan if v is None else v for v in doc["values"]], dtype=float)
        out.append(Series(doc["name"], doc["subset"], doc["kind"], values, doc["annotations"]))
    return out


# Real series: (city, column, view, annotated years, why). "level" is the published
# value; "growth" is the year-on-year growth in percent computed from it (2001-2024).
# Only breaks that are visible in the data AND tied to a documented event are annotated.
_POP = "常住人口(万人)"
_GDP = "地区生产总值(万元)"
_EDU = "一般公共预算支出_教育(万元)"
_LOANS = "年末金融机构各项贷款余额(万元)"
_HUJI = "户籍人口数(万人)"
_WHY = {
    "survey2005": "2005 1% population sample survey: resident population re-based from 2005",
    "census2010": "6th population census (2010): resident population re-based",
    "census2020": "7th population census (2020): resident population re-based",
    "laiwu2019": "Jan 2019: Laiwu merged into Jinan (State Council approval, 国函〔2019〕4号)",
    "econ2004": "1st national economic census (2004): GDP re-based, new level from 2005 on",
    "econ2018": "4th national economic census (2018): Zibo's GDP revised down, new level in 2019",
    "edu2007": "2007 government revenue/expenditure classification reform (政府收支分类改革)",
    "loans2009": "2009 credit expansion (stimulus package): one-off jump of the loan stock",
    "boom2003": "2003: nominal growth steps up (post-WTO investment boom; national 9.8% -> 12.9%)",
    "slow2012": "2012: nominal growth steps down ('new normal'; national 18.5% (2011) -> 10.4%)",
}
REAL_SPECS: list[tuple[str, str, str, list[int], list[str]]] = [
    ("泰安市", _POP, "level", [2005], ["survey2005"]),
    ("济宁市", _POP, "level", [2005], ["survey2005"]),
    ("临沂市", _POP, "level", [2005, 2020], ["survey2005", "census2020"]),
    ("烟台市", _POP, "level", [2010], ["census2010"]),
    ("聊城市", _POP, "level", [2010, 2020], ["census2010", "census2020"]),
    ("枣庄市", _POP, "level", [2010, 2020], ["census2010", "census2020"]),
    ("德州市", _POP, "level", [2020], ["census2020"]),
    ("济南市", _POP, "level", [2019], ["laiwu2019"]),
    ("济南市", _HUJI, "level", [2019], ["laiwu2019"]),
    ("泰安市", _GDP, "level", [2005], ["econ2004"]),
    ("淄博市", _GDP, "level", [2019], ["econ2018"]),
    ("临沂市", _EDU, "level", [2007], ["edu2007"]),
    ("德州市", _EDU, "level", [2007], ["edu2007"]),
    ("日照市", _EDU, "level", [2007], ["edu2007"]),
    ("济宁市", _EDU, "level", [2007], ["edu2007"]),
    ("菏泽市", _EDU, "level", [2007], ["edu2007"]),
    ("枣庄市", _LOANS, "level", [2009], ["loans2009"]),
    ("济南市", _LOANS, "level", [2009], ["loans2009"]),
    ("潍坊市", _LOANS, "level", [2009], ["loans2009"]),
    ("烟台市", _LOANS, "level", [2009], ["loans2009"]),
    ("日照市", _LOANS, "level", [2009], ["loans2009"]),
    ("菏泽市", _LOANS, "level", [2009], ["loans2009"]),
]
# GDP growth: 2012 everywhere; 2003 only where 2001-02 growth is >= 4 points below 2003-08.
GROWTH_CITIES = ["临沂市", "德州市", "日照市", "济宁市", "潍坊市", "烟台市", "聊城市", "青岛市"]

_PINYIN = {
    "泰安市": "taian",
    "济宁市": "jining",
    "临沂市": "linyi",
    "烟台市": "yantai",
    "聊城市": "liaocheng",
    "枣庄市": "zaozhuang",
    "德州市": "dezhou",
    "济南市": "jinan",
    "淄博市": "zibo",
    "日照市": "rizhao",
    "菏泽市": "heze",
    "潍坊市": "weifang",
    "青岛市": "qingdao",
}
_COLUMN_IDS = {_POP: "pop", _GDP: "gdp", _EDU: "edu_spend", _LOANS: "loans", _HUJI: "hukou_pop"}


def _real_series() -> list[dict]:
    import pandas as pd
    from city_macro_data import data_version, load_data

    df = load_data()
    df.columns = [c.replace("\r\n", "").replace("\n", "") for c in df.columns]
    source = f"city-macro-data {data_version()} (PyPI), 山东省"

    def column(city: str, col: str) -> pd.Series:
        return df[df["城市"] == city].set_index("年份")[col].astype(float).sort_index()

    docs = []
    for city, col, view, years, why in REAL_SPECS:
        s = column(city, col)
        docs.append(_real_doc(city, col, view, s, years, [_WHY[w] for w in why], source))
    for city in GROWTH_CITIES:
        g = (column(city, _GDP).pct_change() * 100).loc[2001:]
        years, why = [2012], ["slow2012"]
        if g.loc[2003:2008].mean() - g.loc[2001:2002].mean() >= 4:
            years, why = [2003, 2012], ["boom2003", "slow2012"]
        docs.append(_real_doc(city, _GDP, "growth", g, years, [_WHY[w] for w in why], source))
    return docs


def _real_doc(city, col, view, s, years, why, source) -> dict:
    periods = [int(p) for p in s.index]
    name = f"real_{_PINYIN[city]}_{_COLUMN_IDS[col]}_{view}"
    return {
        "name": name,
        "subset": "real",
        "kind": f"{_COLUMN_IDS[col]}_{view}",
        "source": f"{source}; {city} {col} ({'y/y growth, %' if view == 'growth' else 'level'})",
        "periods": periods,
        "values": [None if not math.isfinite(v) else round(float(v), 6) for v in s.to_numpy()],
        "annotations": {"taishan": [periods.index(y) for y in years]},
        "annotated_years": years,
        "justification": why,
    }


def _synthetic_series(seed: int = 20260507) -> list[dict]:
    """Synthetic series with known breaks; fixed seed so the files are reproducible."""
    rng = np.random.default_rng(seed)
    docs: list[dict] = []

    def add(kind: str, values: np.ndarray, breaks: list[int], note: str) -> None:
        name = f"syn_{kind}_{len(values)}_{sum(1 for d in docs if d['kind'] == kind):02d}"
        docs.append(
            {
                "name": name,
                "subset": "synthetic",
                "kind": kind,
                "source": f"generated, seed {seed}",
                "periods": list(range(len(values))),
                "values": [None if not math.isfinite(v) else round(float(v), 6) for v in values],
                "annotations": {"taishan": sorted(int(b) for b in breaks)},
                "note": note,
            }
        )

    for n in (24, 48, 120, 240, 480):
        for _ in range(3):
            add("noise", _noise(rng, n), [], "white noise (Gaussian or t3), no change")
            add("ar1", _ar1(rng, n, rng.uniform(0.3, 0.7)), [], "AR(1) noise, no change")
        for _ in range(2):
            add("random_walk", np.cumsum(_noise(rng, n)) + 50, [], "random walk, no change annotated")
            trend = np.linspace(0, rng.uniform(3, 20), n) + _noise(rng, n)
            add("trend", trend, [], "linear trend plus noise, no change")
            growth = 100 * np.exp(np.cumsum(rng.normal(0.08, 0.02, n) / max(1, n / 25)))
            add("growth", growth, [], "steady exponential growth, no change")
        for k in (1, 2, 3):
            breaks = _place(rng, n, k)
            add("mean_shift", _mean_shift(rng, n, breaks), breaks, f"{k} mean shift(s) of 1.5-4 sigma")
        for _ in range(2):
            breaks = _place(rng, n, 1 + int(rng.integers(2)))
            add("variance", _variance_change(rng, n, breaks), breaks, "variance change only")
            breaks = _place(rng, n, 1 + int(rng.integers(2)))
            add("trend_break", _trend_break(rng, n, breaks), breaks, "piecewise-linear trend")
            breaks = _place(rng, n, 1)
            add("growth_jump", _growth_jump(rng, n, breaks[0]), breaks, "exponential growth with a level jump")
            add("outliers", _outliers(rng, n), [], "noise with isolated outliers, no change")
    for n in (120, 240):
        for _ in range(3):
            breaks = _place(rng, n, 1)
            add("seasonal", _seasonal(rng, n, breaks[0]), breaks, "monthly seasonal series with level shift")
            add("seasonal_flat", _seasonal(rng, n, None), [], "monthly seasonal series, no change")
    for n in (60, 240):
        breaks = _place(rng, n, 2)
        x = _mean_shift(rng, n, breaks)
        x[rng.choice(n, n // 10, replace=False)] = np.nan
        add("gaps", x, breaks, "mean shifts with 10% missing values")
    return docs


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    if rng.random() < 0.3:
        return rng.standard_t(3, n) / math.sqrt(3)
    return rng.normal(0, 1, n)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = rng.normal(0, 1, n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def _place(rng: np.random.Generator, n: int, k: int) -> list[int]:
    """k break positions at least max(4, n/8) apart and from the ends."""
    gap = max(4, n // 8)
    while True:
        b = sorted(int(v) for v in rng.choice(np.arange(gap, n - gap + 1), k, replace=False))
        if all(q - p >= gap for p, q in itertools.pairwise(b)):
            return b


def _mean_shift(rng: np.random.Generator, n: int, breaks: list[int]) -> np.ndarray:
    level = np.zeros(n)
    for b in breaks:
        level[b:] += rng.choice([-1, 1]) * rng.uniform(1.5, 4.0)
    return 10 + level + _noise(rng, n)


def _variance_change(rng: np.random.Generator, n: int, breaks: list[int]) -> np.ndarray:
    scale = np.ones(n)
    for b in breaks:
        scale[b:] *= rng.choice([0.25, 4.0])
    return scale * rng.normal(0, 1, n)


def _trend_break(rng: np.random.Generator, n: int, breaks: list[int]) -> np.ndarray:
    slope = np.full(n, rng.uniform(-0.1, 0.1) * 25 / n)
    for b in breaks:
        slope[b:] += rng.choice([-1, 1]) * rng.uniform(0.15, 0.4) * 25 / n * 2
    return np.cumsum(slope) * 10 + _noise(rng, n)


def _growth_jump(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    g = rng.normal(0.08, 0.02, n) / max(1, n / 25)
    logs = np.cumsum(g)
    logs[b:] += rng.choice([-1, 1]) * rng.uniform(0.15, 0.35)
    return 100 * np.exp(logs)


def _outliers(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(0, 1, n)
    spots = rng.choice(np.arange(1, n - 1), max(1, n // 40), replace=False)
    x[spots] += rng.choice([-1, 1], spots.size) * rng.uniform(6, 10, spots.size)
    return x


def _seasonal(rng: np.random.Generator, n: int, b: int | None) -> np.ndarray:
    pattern = rng.normal(0, 1, 12)
    x = 20 + np.tile(pattern, n // 12 + 1)[:n] * rng.uniform(1, 3) + rng.normal(0, 0.7, n)
    if b is not None:
        x[b:] += rng.choice([-1, 1]) * rng.uniform(2, 4)
    return x


def rebuild_data(directory: Path = DATA_DIR) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    docs = _real_series() + _synthetic_series()
    for doc in docs:
        text = json.dumps(doc, ensure_ascii=False, indent=1)
        (directory / f"{doc['name']}.json").write_text(text + "\n", encoding="utf-8")
    return len(docs)


# --- detectors -------------------------------------------------------------------


def zero(values: np.ndarray) -> list[int]:
    return []


def binseg(values: np.ndarray) -> list[int]:
    """TCPDBench's default binseg: z-scored data, l2 cost, MBIC penalty 3·log n, at most 5 changes."""
    observed = np.flatnonzero(np.isfinite(values))
    x = values[observed]
    if x.size < 4 or np.std(x) == 0:
        return []
    z = ((x - x.mean()) / x.std()).reshape(-1, 1)
    algo = rpt.Binseg(model="l2", min_size=2, jump=1).fit(z)
    ends = algo.predict(pen=3 * math.log(x.size))
    if len(ends) - 1 > 5:
        ends = algo.predict(n_bkps=5)
    return [int(observed[e]) for e in ends[:-1]]


def with_settings(settings: cp.Settings) -> Detector:
    return lambda values: cp.detect(values, settings)


# --- accuracy ---------------------------------------------------------------------


def score(detector: Detector, dataset: list[Series]) -> dict[str, dict[str, float]]:
    """Mean F1 and cover per subset and overall."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for s in dataset:
        predicted = detector(s.values)
        pair = (f_measure(s.annotations, predicted), covering(s.annotations, predicted, s.values.size))
        rows.setdefault(s.subset, []).append(pair)
        rows.setdefault("all", []).append(pair)
    return {
        k: {"f1": statistics.fmean(p[0] for p in v), "cover": statistics.fmean(p[1] for p in v), "n": len(v)}
        for k, v in rows.items()
    }


def score_by_kind(detector: Detector, dataset: list[Series]) -> dict[str, tuple[float, float, int]]:
    rows: dict[str, list[tuple[float, float]]] = {}
    for s in dataset:
        predicted = detector(s.values)
        f, c = f_measure(s.annotations, predicted), covering(s.annotations, predicted, s.values.size)
        rows.setdefault(s.kind, []).append((f, c))
    return {k: (statistics.fmean(p[0] for p in v), statistics.fmean(p[1] for p in v), len(v)) for k, v in rows.items()}


TUNING_GRID = {
    "penalty": [2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
    "min_size": [2, 3, 4, 5, 6],
    "trend_views": [True, False],
    "ar_correction": [True, False],
}


def tune(dataset: list[Series]) -> list[tuple[float, cp.Settings, dict]]:
    results = []
    keys = list(TUNING_GRID)
    for combo in itertools.product(*(TUNING_GRID[k] for k in keys)):
        settings = dataclasses.replace(cp.DEFAULT, **dict(zip(keys, combo, strict=True)))
        s = score(with_settings(settings), dataset)
        # Real and synthetic count equally: the real subset is small but it is what matters.
        objective = statistics.fmean(s[k][m] for k in ("real", "synthetic") for m in ("f1", "cover"))
        results.append((objective, settings, s))
    results.sort(key=lambda r: -r[0])
    return results


# --- speed ------------------------------------------------------------------------


def speed_matrix(n_series: int = 10_000, n_obs: int = 240, seed: int = 7) -> np.ndarray:
    """A monitoring-like mix of monthly series, 20 years each.

    70% without a change (white noise, AR(1) φ=0.5, seasonal), 15% with one mean
    shift, 10% linear trends, 5% random walks: most indicators, most months, are calm.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_obs)
    x = rng.normal(0, 1, (n_series, n_obs))
    kind = rng.choice(6, n_series, p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
    for i in np.flatnonzero(kind == 1):
        x[i] = _ar1(rng, n_obs, 0.5)
    season = np.tile(rng.normal(0, 2, 12), n_obs // 12 + 1)[:n_obs]
    x[kind == 2] += season
    steps = rng.integers(30, n_obs - 30, n_series)
    x[kind == 3] += 3.0 * (t[None, :] >= steps[kind == 3, None])
    x[kind == 4] += np.linspace(0, 10, n_obs)
    x[kind == 5] = np.cumsum(x[kind == 5], axis=1)
    return x + 100.0


def _bare_searches(matrix: np.ndarray) -> None:
    """One KernelCPD search per row at the default penalty: the floor for detect_many."""
    for row in matrix:
        z = row / np.std(row)
        rpt.KernelCPD(kernel="linear", min_size=cp.DEFAULT.min_size).fit(z).predict(
            pen=cp.DEFAULT.penalty * math.log(row.size)
        )


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_speed(runs: int = 3, pelt_subset: int = 20) -> dict[str, object]:
    matrix = speed_matrix()
    noise = np.random.default_rng(11).normal(size=matrix.shape)
    # Runs are interleaved so that all three see the same load on a shared machine; the
    # ratio to the bare searches (the floor no pipeline can beat) hardly depends on it.
    times, noise_times, bare_times = [], [], []
    for _ in range(runs):
        times.append(_timed(lambda: cp.detect_many(matrix)))
        noise_times.append(_timed(lambda: cp.detect_many(noise)))
        bare_times.append(_timed(lambda: _bare_searches(noise)))
    bare = statistics.median(bare_times)
    median = statistics.median(times)
    per_series = median / matrix.shape[0]
    # Pelt(l2, jump=1) against KernelCPD on the same normalised level view and penalty
    # (one search each, so this compares the searches, not the whole pipeline).
    pelt_times, kernel_times, same = [], [], 0
    for row in matrix[:pelt_subset]:
        z = row / cp._noise_sigma(row)
        pen = cp.DEFAULT.penalty * math.log(z.size)
        start = time.perf_counter()
        pelt = rpt.Pelt(model="l2", min_size=cp.DEFAULT.min_size, jump=1).fit(z).predict(pen=pen)
        pelt_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        kernel = rpt.KernelCPD(kernel="linear", min_size=cp.DEFAULT.min_size).fit(z).predict(pen=pen)
        kernel_times.append(time.perf_counter() - start)
        same += pelt == kernel
    pelt_per_series = statistics.median(pelt_times)
    return {
        "n_series": matrix.shape[0],
        "n_obs": matrix.shape[1],
        "runs": runs,
        "detect_many_seconds_median": median,
        "detect_many_seconds_all": times,
        "white_noise_seconds_median": statistics.median(noise_times),
        "white_noise_seconds_all": noise_times,
        "per_series_ms": per_series * 1e3,
        "bare_kernelcpd_seconds": bare,
        "bare_kernelcpd_seconds_all": bare_times,
        "ratio_to_bare_kernelcpd": median / bare,
        "white_noise_ratio_to_bare_kernelcpd": statistics.median(noise_times) / bare,
        "pelt_l2_jump1_per_series_ms": pelt_per_series * 1e3,
        "pelt_subset": pelt_subset,
        "kernelcpd_per_series_ms": statistics.median(kernel_times) * 1e3,
        "pelt_estimated_seconds_for_all": pelt_per_series * matrix.shape[0],
        "speedup_vs_pelt": pelt_per_series / per_series,
        "search_speedup_kernelcpd_vs_pelt": pelt_per_series / statistics.median(kernel_times),
        "pelt_kernelcpd_identical": f"{same}/{pelt_subset}",
    }


# --- report -----------------------------------------------------------------------


def run(skip_speed: bool = False) -> dict:
    dataset = load_dataset()
    detectors = {"taishan_default": lambda v: cp.detect(v), "binseg": binseg, "zero": zero}
    accuracy = {name: score(d, dataset) for name, d in detectors.items()}
    print(f"accuracy on {len(dataset)} series (F1 margin {MARGIN}, cover)")
    print(f"{'method':<18}" + "".join(f"{k:>22}" for k in ("real", "synthetic", "all")))
    for name, s in accuracy.items():
        cells = "".join(f"{s[k]['f1']:>11.3f}{s[k]['cover']:>11.3f}" for k in ("real", "synthetic", "all"))
        print(f"{name:<18}{cells}")
    by_kind = {name: score_by_kind(d, dataset) for name, d in detectors.items()}
    print("\nper kind (F1 / cover): " + " | ".join(detectors))
    for kind in sorted(by_kind["zero"]):
        cells = "  ".join(f"{by_kind[n][kind][0]:.2f}/{by_kind[n][kind][1]:.2f}" for n in detectors)
        print(f"  {kind:<18} n={by_kind['zero'][kind][2]:<3} {cells}")
    report = {
        "settings": dataclasses.asdict(cp.DEFAULT),
        "margin": MARGIN,
        "n_series": len(dataset),
        "accuracy": accuracy,
        "by_kind": {n: {k: {"f1": v[0], "cover": v[1], "n": v[2]} for k, v in d.items()} for n, d in by_kind.items()},
    }
    if not skip_speed:
        speed = measure_speed()
        report["speed"] = speed
        print(
            f"\nspeed: detect_many on {speed['n_series']}x{speed['n_obs']}: "
            f"median {speed['detect_many_seconds_median']:.2f} s over {speed['runs']} runs "
            f"({speed['per_series_ms']:.3f} ms/series); white noise only "
            f"{speed['white_noise_seconds_median']:.2f} s; one bare KernelCPD search per series "
            f"{speed['bare_kernelcpd_seconds']:.2f} s (ratios {speed['ratio_to_bare_kernelcpd']:.2f} and "
            f"{speed['white_noise_ratio_to_bare_kernelcpd']:.2f})\n"
            f"Pelt(l2, jump=1) {speed['pelt_l2_jump1_per_series_ms']:.1f} ms/series on {speed['pelt_subset']} "
            f"series -> detect_many is {speed['speedup_vs_pelt']:.0f}x faster per series "
            f"(one KernelCPD search: {speed['search_speedup_kernelcpd_vs_pelt']:.0f}x); "
            f"same breaks on {speed['pelt_kernelcpd_identical']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS.relative_to(ROOT.parent)}")
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild-data", action="store_true", help="regenerate the evaluation JSON files")
    parser.add_argument("--tune", action="store_true", help="grid-search the settings and print the best")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    if args.rebuild_data:
        print(f"wrote {rebuild_data()} series to {DATA_DIR}")
        return
    if args.tune:
        for objective, settings, s in tune(load_dataset())[:25]:
            cells = " ".join(f"{k}={s[k]['f1']:.3f}/{s[k]['cover']:.3f}" for k in ("real", "synthetic", "all"))
            knobs = " ".join(f"{k}={getattr(settings, k)}" for k in TUNING_GRID)
            print(f"{objective:.4f} {knobs} {cells}")
        return
    run(skip_speed=args.skip_speed)


if __name__ == "__main__":
    main()
