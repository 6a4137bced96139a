"""Reloading the configuration of a running bot (`/reload_config`, SIGHUP).

The files are read again exactly as at start-up (same files, environment and command-line
overrides). A configuration that does not load stops nothing: the error names the key and the
running configuration stays. Of a good one, what can change at runtime is applied at once:

- `risk.*` and the strategy's decision parameters (`strategy.stop_atr`, `reward_risk`,
  `trail_atr`, `max_cost_r`, `cooldown_bars`): from the next trading cycle;
- `exits.*`: for positions opened from then on (open positions keep the plan they were
  opened with, which their protective stop on the exchange already carries).

Everything else (symbols, endpoints, the indicators' periods, learner, intervals...) is named
in the answer as needing a restart and keeps its running value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from slt.application.journal import journal
from slt.config import Settings

RUNTIME_SECTIONS = ("risk", "exits", "strategy")
# Indicator state was built with these periods: a change needs a restart.
RESTART_KEYS = frozenset({"strategy.fast", "strategy.slow", "strategy.atr_period",
                          "strategy.breakout"})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Settings as dotted keys -> values (`risk.max_leverage` -> 5)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return {prefix.rstrip("."): value}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        out.update(flatten(getattr(value, f.name), f"{prefix}{f.name}."))
    return out


def runtime_part(running: Settings, loaded: Settings) -> Settings:
    """`running` with the sections that may change at runtime taken from `loaded` (the
    indicators' periods excepted)."""
    periods = {k.split(".")[1]: getattr(running.strategy, k.split(".")[1]) for k in RESTART_KEYS}
    return dataclasses.replace(
        running,
        risk=loaded.risk,
        exits=loaded.exits,
        strategy=dataclasses.replace(loaded.strategy, **periods),
    )


class ConfigReloader:
    """`load` reads the configuration as at start-up (raising ConfigError); `apply` installs
    the runtime part in the running components (raising ValueError, before changing anything,
    for a value they refuse)."""

    def __init__(
        self,
        load: Callable[[], Settings],
        running: Settings,
        apply: Callable[[Settings], None],
    ) -> None:
        self._load = load
        self._apply = apply
        self.running = running

    def __call__(self) -> str:
        loaded = dataclasses.replace(self._load(), mode=self.running.mode)
        before = flatten(self.running)
        changed = sorted(k for k, v in flatten(loaded).items() if before.get(k) != v)
        if not changed:
            return "configuration reloaded: nothing changed"
        runtime = [k for k in changed if k.split(".")[0] in RUNTIME_SECTIONS
                   and k not in RESTART_KEYS]
        restart = [k for k in changed if k not in runtime]
        if runtime:
            settings = runtime_part(self.running, loaded)
            self._apply(settings)
            self.running = settings
        parts = [f"applied {', '.join(runtime)}" if runtime else "nothing applied"]
        if restart:
            parts.append(f"needs a restart (running value kept): {', '.join(restart)}")
        text = "configuration reloaded: " + "; ".join(parts)
        journal.info("%s", text)
        return text
