"""API credentials: from the environment or a key file, never from the config, never shown.

The secret lives in one object whose repr hides it, so an accidental log line or traceback
cannot print it.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_KEY = "BINANCE_API_KEY"
ENV_SECRET = "BINANCE_API_SECRET"


class CredentialsError(ValueError):
    """Credentials are missing or unsafe; the message says which and where."""


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key[:4]}…, api_secret=<hidden>)"

    __str__ = __repr__


def load_credentials(
    env: Mapping[str, str] | None = None, key_file: Path | None = None
) -> Credentials:
    """A key file wins over the environment. The file is TOML with `api_key` and `api_secret`
    and must not be readable by group or others (like an SSH key)."""
    if key_file is not None:
        return _from_file(key_file)
    env = os.environ if env is None else env
    key, secret = env.get(ENV_KEY, "").strip(), env.get(ENV_SECRET, "").strip()
    if not key or not secret:
        missing = ENV_KEY if not key else ENV_SECRET
        raise CredentialsError(f"{missing} is not set (or pass --key-file)")
    return Credentials(key, secret)


def _from_file(path: Path) -> Credentials:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialsError(f"key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"key file {path} is accessible by other users (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {path}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        # The parser's message may quote the file's content: do not repeat it.
        raise CredentialsError(f"key file {path} is not valid TOML") from None
    key, secret = data.get("api_key"), data.get("api_secret")
    for name, value in (("api_key", key), ("api_secret", secret)):
        if not isinstance(value, str) or not value.strip():
            raise CredentialsError(f"key file {path}: {name} is missing or empty")
    return Credentials(key.strip(), secret.strip())  # type: ignore[union-attr]
