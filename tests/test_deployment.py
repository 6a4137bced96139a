"""The Dockerfile and the systemd unit in the README start a real `slt` command.

Docker cannot build here; what can be checked without it is checked: the base image, the
unprivileged user, the entry point being the installed console script, the state volume being
the working directory, and that the default command and the unit's ExecStart parse as the
command line they claim to be.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from slt.entrypoints.cli import _parser

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def readme_unit() -> dict[str, list[str]]:
    block = re.search(r"```ini\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no systemd unit"
    unit: dict[str, list[str]] = {}
    for line in block.group(1).splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            unit.setdefault(key.strip(), []).append(value.strip())
    return unit


def parses(argv: list[str]) -> None:
    """Parse as `slt` would; argparse exits on an unknown verb or flag."""
    args = _parser().parse_args(argv)
    assert args.verb == argv[0]


def test_dockerfile_runs_slt_as_an_unprivileged_user_on_a_state_volume() -> None:
    rows = dockerfile()
    words = [w for w, _ in rows]
    assert rows[0] == ("FROM", "python:3.11-slim")
    user = dict(rows)["USER"]
    assert user not in ("root", "0")
    # the user switch comes after the install (which needs root) and before the entry point
    assert words.index("RUN") < words.index("USER") < words.index("ENTRYPOINT")
    assert re.search(rf"useradd .*\b{user}\b", dict(rows)["RUN"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = json.loads(dict(rows)["ENTRYPOINT"])
    assert entry == ["slt"] and "slt" in scripts
    workdirs = [arg for w, arg in rows if w == "WORKDIR"]
    assert json.loads(dict(rows)["VOLUME"]) == [workdirs[-1]]
    parses(json.loads(dict(rows)["CMD"]))


def test_dockerignore_keeps_the_virtualenv_and_outputs_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "slt-out", "slt-state"} <= set(ignored)


def test_systemd_unit_starts_a_real_subcommand_and_restarts_on_failure() -> None:
    unit = readme_unit()
    assert unit["Restart"] == ["on-failure"]
    assert unit["EnvironmentFile"] == ["/etc/slt/slt.env"]
    assert unit["WorkingDirectory"] == ["/var/lib/slt"] and unit["StateDirectory"] == ["slt"]
    assert unit["User"] == ["slt"]
    program, *argv = shlex.split(unit["ExecStart"][0])
    assert Path(program).name == "slt"
    parses(argv)
    # a configuration error (the CLI's exit code 2) is not retried in a loop
    assert unit["RestartPreventExitStatus"] == ["2"]


@pytest.mark.parametrize("argv", [["live", "--nonsense"], ["serve"]])
def test_the_parse_check_would_catch_a_wrong_command(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parses(argv)
