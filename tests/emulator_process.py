"""`slt emulator` as a separate process, for tests that talk to it only over the network.

The process prints its URLs and control token at start; `EmulatorProcess` reads them from its
stdout. Waits are on that output (with a timeout as a safety net), never on sleeps.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from slt.emulator.config import EmulatorConfig

START_TIMEOUT_S = 60.0
_REST = re.compile(r"REST (http://\S+)\s+WS (ws://\S+)")
_TOKEN = re.compile(r"token: (\S+)")


@dataclass(frozen=True)
class EmulatorProcess:
    rest_url: str
    ws_url: str
    token: str
    api_key: str
    api_secret: str
    banner: str


@contextmanager
def emulator_process(*args: str, env: dict[str, str] | None = None) -> Iterator[EmulatorProcess]:
    """Run `slt emulator --port 0 ARGS...` until the block ends; stop it with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "slt.entrypoints.cli", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = _read_banner(proc)
        urls, token = _REST.search(banner), _TOKEN.search(banner)
        assert urls is not None and token is not None, banner
        defaults = EmulatorConfig()
        yield EmulatorProcess(
            urls.group(1), urls.group(2), token.group(1), defaults.api_key, defaults.api_secret,
            banner,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def run_emulator_cli(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run `slt emulator ARGS...` to completion (for arguments it refuses at once)."""
    return subprocess.run(
        [sys.executable, "-m", "slt.entrypoints.cli", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )


def _read_banner(proc: subprocess.Popen[str]) -> str:
    """Everything the process printed up to "Ctrl-C stops it." (its last start-up line)."""
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            return "".join(lines)
    err = proc.stderr.read() if proc.stderr is not None else ""
    raise AssertionError(f"slt emulator ended before serving: {''.join(lines)}{err}")
