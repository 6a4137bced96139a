"""Versioned models on disk, and which one decides.

Each training adds a version: `model-NNNN.pkl` (the fitted model) and `model-NNNN.json` (its
card: training time and window, sample count, walk-forward validation, whether it went live).
`registry.json` names the latest version and the live one (null: the rules decide). A new
version goes live if its validation beats the rules; if it does not, the rules decide again,
since the newest evidence no longer supports trading on a model. So the live model, when there
is one, is always the latest.

Models are pickles: load only a registry this bot wrote.

A bot retrains for months: it keeps the cards of its last `keep_cards` versions in memory (and
the latest model); the files keep every version, and `keep_cards=None` reads them all back.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from slt.application.learner.features import FEATURE_NAMES
from slt.application.learner.model import OutcomeModel
from slt.application.learner.training import TrainResult

KEEP_CARDS = 100


@dataclass(frozen=True, slots=True)
class ModelCard:
    version: int
    trained_at_ms: int
    window_start_ms: int
    window_end_ms: int
    n_samples: int
    live: bool
    validation: dict[str, Any]
    features: tuple[str, ...]


class ModelRegistry:
    """Model versions, kept in `directory` (None: in memory only, for tests)."""

    def __init__(
        self,
        directory: Path | None = None,
        on_register: Callable[[ModelCard], None] | None = None,
        keep_cards: int | None = KEEP_CARDS,
    ) -> None:
        if keep_cards is not None and keep_cards < 1:
            raise ValueError("a registry keeps at least the latest card")
        self._dir = directory
        self._on_register = on_register
        self._keep = keep_cards
        self._version = 0  # the latest version registered or loaded
        self.cards: list[ModelCard] = []  # the last `keep_cards` of them, oldest first
        self._models: dict[int, OutcomeModel] = {}
        self.live_version = 0  # 0: none
        if directory is not None and (directory / "registry.json").is_file():
            self._load(directory)

    @property
    def latest(self) -> tuple[int, OutcomeModel] | None:
        if not self._models:
            return None
        version = self.cards[-1].version
        return version, self._models[version]

    @property
    def live(self) -> OutcomeModel | None:
        return self._models.get(self.live_version)

    def register(self, result: TrainResult) -> ModelCard:
        version = self._version = self._version + 1
        card = ModelCard(
            version=version,
            trained_at_ms=result.trained_at_ms,
            window_start_ms=result.window_start_ms,
            window_end_ms=result.window_end_ms,
            n_samples=result.n_samples,
            live=result.validation.beats_rules,
            validation=result.validation.to_dict(),
            features=result.model.feature_names,
        )
        self.cards.append(card)
        if self._keep is not None:
            del self.cards[: -self._keep]
        self._models = {version: result.model}  # the live model, if any, is the latest
        self.live_version = version if card.live else 0
        if self._dir is not None:
            self._save(card, result.model)
        if self._on_register is not None:
            self._on_register(card)
        return card

    def _save(self, card: ModelCard, model: OutcomeModel) -> None:
        directory = self._dir
        assert directory is not None
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / f"model-{card.version:04d}"
        stem.with_suffix(".pkl").write_bytes(pickle.dumps(model))
        stem.with_suffix(".json").write_bytes(orjson.dumps(asdict(card), option=_JSON))
        index = {"latest": card.version, "live": self.live_version or None}
        (directory / "registry.json").write_bytes(orjson.dumps(index, option=_JSON))

    def _load(self, directory: Path) -> None:
        index = orjson.loads((directory / "registry.json").read_bytes())
        self._version = index["latest"]
        first = 1 if self._keep is None else max(1, self._version - self._keep + 1)
        for version in range(first, self._version + 1):
            raw = orjson.loads((directory / f"model-{version:04d}.json").read_bytes())
            raw["features"] = tuple(raw["features"])
            self.cards.append(ModelCard(**raw))
        latest = self.cards[-1]
        if latest.features != FEATURE_NAMES:
            return  # trained on another feature table: rules decide until the next training
        self.live_version = index["live"] or 0
        path = directory / f"model-{latest.version:04d}.pkl"
        self._models[latest.version] = pickle.loads(path.read_bytes())


_JSON = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
