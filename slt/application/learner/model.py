"""The outcome model: expected R multiple of a candidate from its feature vector.

A gradient-boosted regression tree ensemble (scikit-learn's HistGradientBoostingRegressor) on
the R multiple, because

* the decision needs an expected value (take the best expected R above a threshold), and R is
  not binary: trailing, time and reversal exits end trades between -1R and the target;
* trees need no scaling of features that live on very different scales (RSI points, ATR
  ratios, basis points) and take NaN as "unknown" natively (indicators warming up);
* the effects are conditional (a breakout in a high-volatility regime is another trade than
  one in a quiet market), which a linear or logistic model cannot express without hand-made
  interactions;
* it trains on 10k rows in well under a second on one core, and is deterministic with a fixed
  seed and a single thread.

It is kept shallow and heavily regularised (depth 3, large leaves, L2, small learning rate):
outcomes are noisy and samples few, so variance is the enemy. Targets are clipped so that one
gap through a stop cannot dominate a leaf.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from slt.application.learner.features import FEATURE_NAMES

R_CLIP = (-3.0, 5.0)
SEED = 0


@cache
def _one_thread() -> Any:
    """A context that runs OpenMP code on one thread.

    Fitting and scoring run on one thread: parallel sums could change the last bits between
    runs; training runs beside the event loop, which should keep the other core; and scoring a
    handful of rows on a pool of threads costs more in waking them (many ms on a busy machine)
    than the scoring itself. The controller is built once (finding the thread pools costs
    milliseconds), and scikit-learn is imported only when a model is first needed: it takes
    a second or two to import, which a bot without a model yet should not pay at start-up.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class OutcomeModel:
    """A fitted model; `expected_r` is safe to call from any thread."""

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        self.feature_names = FEATURE_NAMES

    def expected_r(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
        if len(rows) == 0:
            return []
        with _one_thread().limit(limits=1, user_api="openmp"):
            predicted = self._estimator.predict(np.asarray(rows, dtype=float))
        return [float(v) for v in predicted]


def fit(
    rows: Sequence[Sequence[float]] | np.ndarray, r_multiples: Sequence[float] | np.ndarray
) -> OutcomeModel:
    """Fit on feature rows and their R multiples; the same inputs give the same model."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    n = len(rows)
    estimator = HistGradientBoostingRegressor(
        max_iter=100,
        learning_rate=0.1,
        max_depth=3,
        min_samples_leaf=max(20, n // 50),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=SEED,
    )
    x = np.asarray(rows, dtype=float)
    # A feature that is missing in every row (an indicator still warming up over the whole
    # window) makes scikit-learn's binning fail; such a column carries nothing anyway.
    missing = np.isnan(x).all(axis=0)
    if missing.any():
        x = x.copy()  # the caller's rows stay as they were
        x[:, missing] = 0.0
    y = np.clip(np.asarray(r_multiples, dtype=float), *R_CLIP)
    with _one_thread().limit(limits=1, user_api="openmp"):
        estimator.fit(x, y)
    return OutcomeModel(estimator)
