"""The layer contracts in pyproject.toml ([tool.importlinter]) hold on the real import graph,
indirect imports included: domain <- ports <- application <- adapters and entry points, and the
emulator stands on the replay readers and the fake exchange alone."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# In a child process: import-linter configures logging (dictConfig), which would disable the
# loggers of the tests that run after this one.
LINT = ("import sys; from importlinter.cli import lint_imports;"
        " sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def test_every_layer_contract_is_kept() -> None:
    run = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 kept, 0 broken" in run.stdout, run.stdout + run.stderr
