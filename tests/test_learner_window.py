"""The training window: the newest outcomes as columns, a fixed block from the start."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slt.application.learner.samples import LabelledSample
from slt.application.learner.window import WIDTH, TrainingWindow


def sample(i: int, symbol: str = "AAA") -> LabelledSample:
    features = [float(i)] * WIDTH
    features[1] = math.nan
    return LabelledSample(i * 1_000, i * 1_000 + 500, features, i / 10, symbol)


def test_the_window_keeps_the_newest_samples_oldest_first() -> None:
    window = TrainingWindow(4)
    window.extend(sample(i, "AAA" if i % 2 else "BBB") for i in range(7))
    rows = window.samples()
    assert len(window) == len(rows) == 4
    assert rows.decision_ms.tolist() == [3_000, 4_000, 5_000, 6_000]
    assert rows.close_ms.tolist() == [3_500, 4_500, 5_500, 6_500]
    assert rows.r_multiple.tolist() == [0.3, 0.4, 0.5, 0.6]
    assert rows.features[:, 0].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert np.isnan(rows.features[:, 1]).all()
    codes = rows.symbol.tolist()
    assert codes[0] == codes[2] != codes[1] == codes[3]  # AAA, BBB, AAA, BBB


def test_a_window_not_yet_full_gives_only_what_it_holds() -> None:
    window = TrainingWindow(10)
    window.extend(sample(i) for i in range(3))
    assert window.samples().decision_ms.tolist() == [0, 1_000, 2_000]
    assert len(TrainingWindow(10).samples()) == 0


def test_training_reads_a_copy_that_later_outcomes_do_not_change() -> None:
    window = TrainingWindow(3)
    window.extend(sample(i) for i in range(3))
    before = window.samples()
    window.extend(sample(i) for i in range(10, 13))
    assert before.decision_ms.tolist() == [0, 1_000, 2_000]
    assert window.samples().decision_ms.tolist() == [10_000, 11_000, 12_000]


def test_filling_the_window_does_not_grow_it() -> None:
    window = TrainingWindow(1_000)
    block = window._features
    assert block.shape == (1_000, WIDTH) and window.capacity == 1_000
    window.extend(sample(i) for i in range(1_005))
    assert window._features is block and len(window) == 1_000


def test_take_selects_rows_in_the_order_given() -> None:
    window = TrainingWindow(5)
    window.extend(sample(i) for i in range(5))
    picked = window.samples().take(np.array([4, 0]))
    assert picked.decision_ms.tolist() == [4_000, 0]
    assert picked.r_multiple.tolist() == [0.4, 0.0]


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError):
        TrainingWindow(0)
