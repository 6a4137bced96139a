"""The hexagon's rules, checked on the source: the domain stays pure and only the
composition root and the entry points know the adapters."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "slt"
FORBIDDEN_IN_DOMAIN = ("asyncio", "time", "socket", "sqlite3", "sqlite_utils", "aiohttp",
                       "websockets", "threading", "slt.adapters", "slt.entrypoints",
                       "slt.ports", "random")
# The composition roots (container, the entry points: `slt simulate`, `slt live` ...), the
# adapters themselves, the emulator, which serves the FakeExchange over the Binance protocol,
# and the bundled data's lookup, which hands out replay DataSources.
ADAPTER_IMPORTERS = {"container.py", "entrypoints", "adapters", "emulator", "data"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_imports_nothing_impure(path: Path) -> None:
    bad = {n for n in imports(path) for f in FORBIDDEN_IN_DOMAIN if n == f or n.startswith(f + ".")}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_domain_reads_no_wall_clock() -> None:
    for path in (ROOT / "domain").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert ".now(" not in text and "utcnow" not in text, path.name


def test_only_the_composition_root_and_entry_points_import_adapters() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ADAPTER_IMPORTERS:
            continue
        if any(n.startswith("slt.adapters") for n in imports(path)):
            offenders.append(str(rel))
    assert not offenders
