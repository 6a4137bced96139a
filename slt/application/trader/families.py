"""Finding the candidate generators named in `strategy.families` (or `--strategy`).

A name is, in this order: a built-in generator (`trend`, `reversion`); an entry point of the
group `slt.strategies` (an installed package's `[project.entry-points."slt.strategies"]`); or
`module:Class` on the Python path. Each is instantiated once, as `cls(params)`, and must have a
`name` and an `on_bar` method (slt.domain.strategy.CandidateGenerator).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from slt.domain.strategy import CandidateGenerator, EmaTrendParams, MeanReversion, TrendBreakout

GROUP = "slt.strategies"
BUILT_IN: dict[str, type] = {"trend": TrendBreakout, "reversion": MeanReversion}


class FamilyError(ValueError):
    """A generator that cannot be found or does not fit; the message names the setting."""


def generator_class(spec: str) -> type:
    if spec in BUILT_IN:
        return BUILT_IN[spec]
    for ep in entry_points(group=GROUP, name=spec):
        return _checked(spec, ep.load())
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise FamilyError(
            f"strategy.families: no candidate generator {spec!r} (built in: "
            f"{', '.join(BUILT_IN)}; or an entry point of group {GROUP}; or module:Class)"
        )
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise FamilyError(f"strategy.families: cannot load {spec!r}: {exc}") from None
    return _checked(spec, cls)


def _checked(spec: str, cls: object) -> type:
    if not isinstance(cls, type) or not callable(getattr(cls, "on_bar", None)):
        raise FamilyError(f"strategy.families: {spec!r} is not a class with an on_bar method")
    return cls


def build_generators(params: EmaTrendParams) -> list[CandidateGenerator]:
    """One instance of each generator in `params.families`, in that order."""
    generators: list[CandidateGenerator] = []
    for spec in params.families:
        generator = generator_class(spec)(params)
        name = getattr(generator, "name", None)
        if not isinstance(name, str) or not name or "/" in name:
            raise FamilyError(f"strategy.families: {spec!r} needs a `name` without '/'")
        generators.append(generator)
    names = [g.name for g in generators]
    if len(set(names)) != len(names):
        raise FamilyError(f"strategy.families: two generators share a name: {names}")
    return generators

