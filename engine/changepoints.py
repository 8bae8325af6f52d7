"""Change point detection with the project's default settings.

Entry points:

- ``detect(values)``: indices where a new segment starts (the ``changepoint(x)`` rule kind).
- ``detect_many(matrix)``: ``detect`` for each row of a 2-D array.
- ``breaks_mask(x)``: 0/1 float array over (entities × periods) for the rule engine.

The search is ruptures' ``KernelCPD(kernel="linear")`` with a penalty, i.e. exact
penalised least squares over piecewise-constant means (the same optimum as
``Pelt(model="l2", jump=1)``, but compiled). The penalty is scale free: a series is
divided by a robust noise σ (MAD of its first differences), so ``penalty · log(n)``
is in units of noise variance.

Economic series mostly trend, and a mean-shift model alone cuts a trend into steps,
every one a false alarm. So the white-noise level pass only screens: if it finds
nothing, the answer is no change (the common, one-search case). Otherwise views of
the series compete by BIC (Gaussian profile likelihood plus the same penalty):

- ``level``: piecewise-constant level, σ widened for autocorrelated noise (AR(1));
- ``detrended``: level shifts around one common slope;
- ``diff``: piecewise-constant first differences (piecewise-linear trends), where an
  outlying difference is a level jump;
- ``growth``: the same on log levels (constant growth rates), for positive series,
  with the Jacobian term that makes its likelihood comparable.

Isolated outliers are replaced by a running median before segmenting, so one wild
value is not cut out as a segment. The defaults were tuned on
``bench/data/changepoints`` (see ``docs/changepoints.md``).

Pure: no I/O, imports only the standard library, numpy and ruptures.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ruptures as rpt

__all__ = ["DEFAULT", "Settings", "breaks_mask", "detect", "detect_many"]

# 1.4826 · MAD estimates σ for Gaussian noise; differencing doubles the variance.
_MAD_TO_SIGMA = 1.482602218505602 / math.sqrt(2.0)
# Same for the mean absolute deviation, used when more than half the differences are 0.
_MEANAD_TO_SIGMA = math.sqrt(math.pi / 2.0) / math.sqrt(2.0)
# Rows prepared together in detect_many (a 2048×240 block needs ~20 MB for its medians).
_BLOCK = 2048


@dataclass(frozen=True)
class Settings:
    """Tuning knobs; ``DEFAULT`` holds the values chosen on the evaluation set."""

    penalty: float = 5.0
    """c in the penalty c·log(n), in units of the robust noise variance."""
    min_size: int = 5
    """Shortest segment; also the shortest series is 2·min_size observed points."""
    trend_views: bool = True
    """Also fit the diff and growth views and pick the best by BIC."""
    jump_z: float = 6.0
    """A difference this many robust σ off its running median is a level jump (trend views)."""
    despike_z: float = 6.0
    """An isolated point this many robust σ off its neighbours is not a segment (level view)."""
    ar_correction: bool = True
    """Widen the noise σ for positively autocorrelated noise (AR(1) long-run variance)."""


DEFAULT = Settings()


@dataclass(frozen=True)
class _Fit:
    """One view's segmentation, in the observed-index space of the level series."""

    breaks: tuple[int, ...]
    criterion: float
    white: bool = False
    """Residuals look like white noise (no autocorrelation left to explain)."""


def detect(values: Sequence[float] | np.ndarray, settings: Settings = DEFAULT) -> list[int]:
    """Return sorted indices in 1..n-1 where a new segment starts.

    Missing values (NaN, ±inf, anything not a number) are dropped, the observed values
    are segmented and the breaks are mapped back to positions in ``values``; a break
    is always at an observed position. Fewer than 2·min_size observed values, or a
    constant or exactly linear series, give []. Never raises on numeric input.
    ``values`` is one series; other shapes are flattened.
    """
    x = _as_vector(values)
    observed = np.flatnonzero(np.isfinite(x))
    breaks = _detect_rows(x[observed][None, :], settings)[0]
    return [int(observed[b]) for b in breaks]


def detect_many(matrix: np.ndarray, settings: Settings = DEFAULT) -> list[list[int]]:
    """``detect`` for each row of a 2-D array (a 1-D array is one row)."""
    rows = np.atleast_2d(_as_array(matrix))
    if rows.ndim > 2:
        rows = rows.reshape(rows.shape[0], -1)
    complete = np.all(np.isfinite(rows), axis=1)
    out: list[list[int]] = [[] for _ in range(rows.shape[0])]
    # Rows without gaps share the vectorised preparation, in blocks to bound memory.
    full = np.flatnonzero(complete)
    for start in range(0, full.size, _BLOCK):
        block = full[start : start + _BLOCK]
        for i, breaks in zip(block, _detect_rows(rows[block], settings), strict=True):
            out[i] = breaks
    for i in np.flatnonzero(~complete):
        out[i] = detect(rows[i], settings)
    return out


def breaks_mask(x: np.ndarray, settings: Settings = DEFAULT) -> np.ndarray:
    """0/1 float array of x's shape marking the first period of each new segment.

    ``x`` is (entities × periods); each row is one series. Rows with too few observed
    values (all NaN, say) are all 0.
    """
    values = _as_array(x)
    rows = np.atleast_2d(values).reshape(-1, values.shape[-1] if values.ndim else 1)
    mask = np.zeros(rows.shape, dtype=float)
    for i, breaks in enumerate(detect_many(rows, settings)):
        mask[i, breaks] = 1.0
    return mask.reshape(values.shape)


# --- input handling ---------------------------------------------------------------


def _as_array(values: object) -> np.ndarray:
    """Float array of any numeric input; anything unreadable becomes NaN, not an error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)  # complex: real part
            return np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return np.array([_to_float(v) for v in np.ravel(np.asarray(values, dtype=object))])


def _to_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _as_vector(values: object) -> np.ndarray:
    return _as_array(values).ravel()


# --- detection on observed values ---------------------------------------------------


def _detect_rows(rows: np.ndarray, s: Settings) -> list[list[int]]:
    """Breaks for each row of a 2-D array of finite values (all rows the same length)."""
    min_size = max(1, int(s.min_size))
    n_rows, n = rows.shape
    if n < 2 * min_size:
        return [[] for _ in range(n_rows)]
    with np.errstate(all="ignore"):
        # Divide by the largest magnitude first so that differences and squares of huge
        # inputs (1e300) cannot overflow; the method is scale free anyway.
        top = np.max(np.abs(rows), axis=1)
        ok = (top > 0) & (np.ptp(rows, axis=1) > 0)
        y = rows / np.where(ok, top, 1.0)[:, None]
        sigma = _noise_sigmas(y)
        ok &= sigma > 0  # σ is NaN for an exactly linear series: no change
        clean = _despike_rows(y, sigma, s.despike_z)
        return [_best_view(y[i], clean[i], float(sigma[i]), s, min_size) if ok[i] else [] for i in range(n_rows)]


def _best_view(y: np.ndarray, clean: np.ndarray, sigma: float, s: Settings, min_size: int) -> list[int]:
    """Screen with the level view, then let the views compete if the level model is off."""
    # The white-noise level pass is the most sensitive look there is: if it finds
    # nothing, there is no step and no strong trend, and no other view would find a
    # change. This is the common case, so the batch path costs one search per series.
    first = _segment(clean / sigma, s.penalty, min_size)
    if not first:
        return []
    factor = _long_run_factor(clean, first) if s.ar_correction else 1.0
    staircase = _staircase(clean, first)
    if factor == 1.0 and not staircase:
        return first  # white residuals and no trend-like staircase: the steps are it
    level = _level_fit(y, clean, sigma, factor, first, s, min_size)
    # The other views are there to stop a trend from being cut into steps. With no
    # steps left once autocorrelation is allowed for, and no staircase to begin with,
    # there is nothing for them to explain away (autocorrelated noise ends here).
    if not s.trend_views or y.size - 1 < 2 * min_size or not (level.breaks or staircase):
        return list(level.breaks)
    detrended = _detrended_view(y, clean, sigma, s, min_size)
    if detrended.white and not detrended.breaks:
        # A line plus white noise: differencing could only double that noise, so the
        # diff and growth views cannot win. (With breaks, white residuals prove less:
        # enough steps whiten a random walk too.)
        return [] if detrended.criterion < level.criterion else list(level.breaks)
    fits = [level, detrended, _trend_view(y.size, np.diff(y), 0.0, s, min_size)]
    # Growth view only for positive series that at least double: over a narrower
    # range log is nearly linear and the view would repeat the diff view.
    if np.all(y > 0) and float(np.max(y)) >= 2.0 * float(np.min(y)):
        logs = np.log(y)
        # Modelling log y instead of y multiplies the density by Π 1/y: the Jacobian
        # term makes the two likelihoods comparable.
        fits.append(_trend_view(y.size, np.diff(logs), 2.0 * float(np.sum(logs[1:])), s, min_size))
    best = min((f for f in fits if f is not None), key=lambda f: f.criterion)
    return list(best.breaks)


def _level_fit(
    y: np.ndarray, clean: np.ndarray, sigma: float, factor: float, first: list[int], s: Settings, min_size: int
) -> _Fit:
    """Piecewise-constant level of the despiked series with noise σ·factor."""
    breaks = _widen(clean, sigma, factor, first, s.penalty, min_size) if factor > 1.0 else first
    # Despiked points count as fitted exactly, one parameter each (as in the trend view).
    outliers = int(np.count_nonzero(clean != y))
    return _Fit(tuple(breaks), _bic(_sse(clean, breaks), y.size - 1, len(breaks) + outliers, s.penalty))


def _mean_shifts(x: np.ndarray, sigma: float, s: Settings, min_size: int) -> tuple[list[int], bool]:
    """Mean shifts of x with white noise σ, then again with σ widened for autocorrelation.

    Also says whether the white-noise pass left white residuals.
    """
    breaks = _segment(x / sigma, s.penalty, min_size)
    factor = _long_run_factor(x, breaks) if s.ar_correction else 1.0
    if breaks and factor > 1.0:
        breaks = _widen(x, sigma, factor, breaks, s.penalty, min_size)
    return breaks, factor == 1.0


def _widen(x: np.ndarray, sigma: float, factor: float, breaks: list[int], penalty: float, min_size: int) -> list[int]:
    """Segment again with σ·factor, skipping the search when it cannot find anything.

    With β = penalty·log n and G(k) the best cost reduction with k breaks (in units of
    σ²), the first search's optimum k* bounds every other k: G(k) ≤ G(k*) + (k - k*)·β.
    With σ·factor, a k ≥ 1 needs G(k) > factor²·k·β, which is impossible when
    G(k*) - k*·β ≤ (factor² - 1)·β: then the answer is no break, without searching.
    Autocorrelated noise usually ends here, which keeps the batch path fast.
    """
    beta = penalty * math.log(x.size)
    gain = (_sse(x, []) - _sse(x, breaks)) / sigma**2
    if gain - len(breaks) * beta <= (factor**2 - 1.0) * beta:
        return []
    return _segment(x / (sigma * factor), penalty, min_size)


def _detrended_view(y: np.ndarray, clean: np.ndarray, sigma: float, s: Settings, min_size: int) -> _Fit:
    """Level shifts around one common slope: a steady trend is not a string of steps.

    The slope starts from least squares and is then re-estimated within the segments
    found, so that the shifts themselves do not tilt it. Differences only move by a
    constant, so the noise σ and the despiking carry over from the level view.
    """
    t = np.arange(y.size, dtype=float)
    slope = _pooled_slope(t, clean, [])
    breaks, white = _mean_shifts(clean - slope * t, sigma, s, min_size)
    if breaks:
        slope = _pooled_slope(t, clean, breaks)
        breaks, white = _mean_shifts(clean - slope * t, sigma, s, min_size)
    outliers = int(np.count_nonzero(clean != y))
    n_params = len(breaks) + outliers + 1  # + the slope
    criterion = _bic(_sse(clean - slope * t, breaks), y.size - 1, n_params, s.penalty)
    return _Fit(tuple(breaks), criterion, white)


def _staircase(x: np.ndarray, breaks: list[int]) -> bool:
    """Three or more segments whose means only go one way: what steps make of a trend."""
    if len(breaks) < 2:
        return False
    means = np.diff(_segment_means(x, breaks)[[0, *breaks]])
    return bool(np.all(means > 0) or np.all(means < 0))


def _pooled_slope(t: np.ndarray, y: np.ndarray, breaks: list[int]) -> float:
    """Least-squares slope shared by all segments, each with its own intercept."""
    tc = t - _segment_means(t, breaks)
    yc = y - _segment_means(y, breaks)
    denom = float(np.dot(tc, tc))
    return float(np.dot(tc, yc)) / denom if denom > 0 else 0.0


def _trend_view(n: int, d: np.ndarray, jacobian: float, s: Settings, min_size: int) -> _Fit | None:
    """Piecewise-constant slopes of d = diff(view of y); an outlying d is a level jump.

    Two adjacent outlying d's of opposite sign are one wild value of y, not a change.
    """
    sigma = _noise_sigma(d) if np.all(np.isfinite(d)) else None
    if sigma is None:
        return None
    smooth = _despike(d, sigma, s.jump_z)
    wild = np.flatnonzero(smooth != d)
    slopes, _ = _mean_shifts(smooth, sigma, s, min_size)
    fitted = _segment_means(smooth, slopes)
    fitted[wild] = d[wild]  # each wild d is a parameter of its own: residual 0
    sse = float(np.sum((d - fitted) ** 2))
    jumps = _jumps(d - smooth, wild)
    # d[j] = y[j+1] - y[j]: a change at d-index j shows first at y-index j+1.
    breaks = sorted({j + 1 for j in slopes} | {j + 1 for j in jumps})
    breaks = [b for b in breaks if 1 <= b <= n - 1]
    return _Fit(tuple(breaks), _bic(sse, d.size, len(slopes) + wild.size, s.penalty) + jacobian)


def _jumps(excess: np.ndarray, wild: np.ndarray) -> list[int]:
    """Wild differences that are level jumps, leaving out up-and-back pairs (spikes)."""
    spikes: set[int] = set()
    for a, b in itertools.pairwise(wild.tolist()):
        if b == a + 1 and excess[a] * excess[b] < 0:
            spikes.update((a, b))
    return [int(j) for j in wild if int(j) not in spikes]


def _bic(sse: float, m: int, n_params: int, penalty: float) -> float:
    """Gaussian profile likelihood (×2) plus the same per-change penalty as the search."""
    return m * math.log(max(sse, 1e-300) / m) + penalty * math.log(m) * n_params


# --- building blocks --------------------------------------------------------------


def _noise_sigmas(rows: np.ndarray) -> np.ndarray:
    """Robust noise σ of each row from its first differences (shifts barely move it).

    NaN for a row whose differences are all equal (an exactly linear series) or whose
    differences are too small to measure against its size.
    """
    d = np.diff(rows, axis=1)
    if d.shape[1] == 0:
        return np.full(rows.shape[0], np.nan)
    r = np.abs(d - _row_median(d)[:, None])
    mad = _row_median(r)
    # Many exact ties (counts, step functions) make the MAD 0 while the series moves.
    meanad = np.mean(r, axis=1)
    sigma = np.where(mad > 0, _MAD_TO_SIGMA * mad, _MEANAD_TO_SIGMA * meanad)
    # Below this the differences are equal up to rounding: a line, not noise.
    floor = 1e-9 * np.max(np.abs(d), axis=1)
    return np.where(sigma > floor, sigma, np.nan)


def _row_median(a: np.ndarray) -> np.ndarray:
    """np.median along axis 1 by one partition (np.median adds checks and copies)."""
    m = a.shape[1]
    k = m // 2
    if m % 2:
        return np.partition(a, k, axis=1)[:, k]
    part = np.partition(a, (k - 1, k), axis=1)
    return (part[:, k - 1] + part[:, k]) / 2.0


def _noise_sigma(x: np.ndarray) -> float | None:
    sigma = float(_noise_sigmas(x[None, :])[0])
    return sigma if sigma > 0 else None


def _long_run_factor(y: np.ndarray, breaks: list[int]) -> float:
    """How much wider than white noise the noise of y is, from an AR(1) fit.

    Positively correlated noise wanders, and a mean shift must beat its long-run σ,
    σ_x·√((1+φ)/(1-φ)), not the σ_x·√(1-φ) that first differences measure: the ratio
    is √(1+φ)/(1-φ). φ is the lag-1 autocorrelation of the residuals within the
    segments found, less 1/√n so that chance correlation of white noise is ignored.
    """
    r = y - _segment_means(y, breaks)
    inside = np.ones(r.size - 1, dtype=bool)
    inside[[b - 1 for b in breaks]] = False  # pairs that straddle a break
    denom = float(np.dot(r, r))
    if denom <= 0:
        return 1.0
    rho = float(np.dot(r[1:][inside], r[:-1][inside])) / denom
    phi = min(rho - 1.0 / math.sqrt(r.size), 0.9)
    return math.sqrt(1.0 + phi) / (1.0 - phi) if phi > 0 else 1.0


def _despike_rows(rows: np.ndarray, sigma: np.ndarray, z: float) -> np.ndarray:
    """Replace isolated outliers (one or two in a row) by a running median of 5.

    A wild value would otherwise be cut out as a short segment: two false breaks.
    Steps survive a running median of 5, so real shifts of 3+ periods are kept.
    """
    if rows.shape[1] < 5 or not math.isfinite(z):
        return rows
    mid = _running_median5(rows)
    out = rows.copy()
    wild = np.abs(rows[:, 2:-2] - mid) > z * sigma[:, None]
    out[:, 2:-2][wild] = mid[wild]
    return out


def _running_median5(rows: np.ndarray) -> np.ndarray:
    """Median of each window of 5 along the rows, by a min/max network (5x np.median).

    median(a0..a4) = median3(a2, max(min(a0,a1), min(a3,a4)), min(max(a0,a1), max(a3,a4))).
    """
    n = rows.shape[1]
    a0, a1, a2, a3, a4 = (rows[:, i : n - 4 + i] for i in range(5))
    lo = np.maximum(np.minimum(a0, a1), np.minimum(a3, a4))
    hi = np.minimum(np.maximum(a0, a1), np.maximum(a3, a4))
    return np.maximum(np.minimum(lo, hi), np.minimum(np.maximum(lo, hi), a2))


def _despike(x: np.ndarray, sigma: float, z: float) -> np.ndarray:
    return _despike_rows(x[None, :], np.array([sigma]), z)[0]


def _segment(z: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Exact penalised mean-shift segmentation of a unit-noise series."""
    n = z.size
    if n < 2 * min_size:
        return []
    algo = rpt.KernelCPD(kernel="linear", min_size=min_size)
    ends = algo.fit(z.reshape(-1, 1)).predict(pen=penalty * math.log(n))
    return [int(e) for e in ends[:-1]]


def _segment_means(x: np.ndarray, breaks: list[int]) -> np.ndarray:
    """x with each segment replaced by its mean."""
    starts = np.array([0, *breaks], dtype=np.intp)
    lengths = np.diff(np.append(starts, x.size))
    return np.repeat(np.add.reduceat(x, starts) / lengths, lengths)


def _sse(x: np.ndarray, breaks: list[int]) -> float:
    return float(np.sum((x - _segment_means(x, breaks)) ** 2))
