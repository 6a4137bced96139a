"""An example candidate generator, as a user would write one (see README, "Your own
candidate generator"): a long on every twelfth closed bar of each symbol."""

from __future__ import annotations

from collections.abc import Sequence

from slt.domain.indicators import Snapshot
from slt.domain.strategy import Candidate, EmaTrendParams
from slt.domain.values import Direction


class EveryTwelfthBar:
    name = "every12"

    def __init__(self, params: EmaTrendParams) -> None:
        self.params = params
        self._bars: dict[str, int] = {}

    def on_bar(
        self, symbol: str, snap: Snapshot, higher: Snapshot | None, close_ms: int
    ) -> Sequence[Candidate]:
        n = self._bars[symbol] = self._bars.get(symbol, 0) + 1
        if n % 12 or not snap.atr > 0:  # NaN while the ATR warms up
            return ()
        stop = self.params.stop_atr * snap.atr
        return (
            Candidate(
                symbol=symbol,
                direction=Direction.LONG,
                ts_ms=close_ms,
                reference_price=snap.close,
                stop_distance=stop,
                reward_risk=self.params.reward_risk,
                trail_distance=self.params.trail_atr * snap.atr,
                trigger="every12",
                family=self.name,
            ),
        )


class NotAGenerator:
    pass
