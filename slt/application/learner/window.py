"""The learner's training window: the newest `learner.max_samples` outcomes as columns.

A bot retrains for months on this window. Held as one Python object per outcome (a sample, its
feature array, its floats) it grew for weeks until the cap and left the allocator's pools
fragmented between trainings; as numpy columns reserved in full at start it is a fixed block
(about 6 MiB at the default 20,000 outcomes) that neither grows nor fragments, and training
gets the columns it fits on without rebuilding rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.samples import LabelledSample

WIDTH = len(FEATURE_NAMES)


@dataclass(frozen=True, slots=True, eq=False)
class Samples:
    """Training rows as columns, in the order their outcomes were recorded. `symbol` holds
    codes: equal codes are the same symbol."""

    decision_ms: np.ndarray  # int64
    close_ms: np.ndarray  # int64
    features: np.ndarray  # float64, (n, WIDTH); NaN: unknown
    r_multiple: np.ndarray  # float64
    symbol: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.decision_ms)

    def take(self, rows: np.ndarray) -> Samples:
        """The rows at `rows` (indices or a mask), copied, in that order."""
        return Samples(
            self.decision_ms[rows],
            self.close_ms[rows],
            self.features[rows],
            self.r_multiple[rows],
            self.symbol[rows],
        )


class TrainingWindow:
    """The newest `capacity` labelled samples; the oldest leave as new ones come."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a training window holds at least one sample")
        # Filled (np.full, not np.empty) so that every page is resident from the start: the
        # window is the bot's size from day one, not a growth over its first weeks.
        self._decision = np.full(capacity, 0, dtype=np.int64)
        self._close = np.full(capacity, 0, dtype=np.int64)
        self._features = np.full((capacity, WIDTH), np.nan)
        self._r = np.full(capacity, 0.0)
        self._symbol = np.full(capacity, 0, dtype=np.int32)
        self._codes: dict[str, int] = {}
        self._next = 0  # the slot the next sample takes
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        return len(self._r)

    def add(self, sample: LabelledSample) -> None:
        i = self._next
        self._decision[i] = sample.decision_ms
        self._close[i] = sample.close_ms
        self._features[i] = sample.features
        self._r[i] = sample.r_multiple
        self._symbol[i] = self._codes.setdefault(sample.symbol, len(self._codes))
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def extend(self, samples: Iterable[LabelledSample]) -> None:
        for sample in samples:
            self.add(sample)

    def samples(self) -> Samples:
        """A copy of the window, oldest first: training reads it off the event loop while new
        outcomes keep arriving."""
        if self._size < self.capacity:
            order = np.arange(self._size)
        else:
            order = np.roll(np.arange(self.capacity), -self._next)
        return Samples(
            self._decision[order],
            self._close[order],
            self._features[order],
            self._r[order],
            self._symbol[order],
        )
