"""Fuzzing the config loader and the credentials loader with arbitrary TOML files.

Contract: `load_settings` returns Settings or raises ConfigError (never another exception);
`load_credentials` returns Credentials or raises CredentialsError, and its messages never quote
the file's content."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slt.adapters.credentials import CredentialsError, load_credentials
from slt.config import ConfigError, Settings, load_settings

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SECTIONS = {
    f.name: [g.name for g in dataclasses.fields(f.default_factory())]  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.default_factory is not dataclasses.MISSING
}
TOP = [f.name for f in dataclasses.fields(Settings) if f.name not in SECTIONS]

toml_scalars = (
    st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([0, -1, 1, 10**18, 2**63 - 1, -(2**63)])
    | st.floats() | st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0, 0.5])
    | st.text(max_size=12) | st.sampled_from(["simulate", "live", "halt", "adopt", "BTCUSDT",
                                              "http://127.0.0.1:1", "1e999", "NaN", "-5"])
    | st.just(dt.datetime(2024, 1, 1, 0, 0)) | st.just(dt.date(2024, 1, 1))
)
toml_values = toml_scalars | st.lists(toml_scalars, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "x"]), toml_scalars, max_size=2)


def section(name: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(SECTIONS[name]) | st.text("abcxyz_", min_size=1, max_size=6)
    return st.dictionaries(keys, toml_values, max_size=4)


config_docs = st.fixed_dictionaries(
    {},
    optional={
        **{name: toml_values for name in TOP},
        **{name: section(name) | toml_scalars for name in SECTIONS},
        "bogus": toml_values,
    },
)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items())


@FUZZ
@given(config_docs)
def test_load_settings_raises_only_config_error(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slt.toml"
        path.write_text(to_toml(doc), encoding="utf-8")
        try:
            loaded = load_settings(path)
        except ConfigError as exc:
            assert str(exc)
            return
        except OverflowError:
            # Known bug, pinned by test_infinite_integer_setting_is_a_config_error: tolerated
            # only when the document holds an infinite float.
            assert "inf" in to_toml(doc)
            return
    assert isinstance(loaded, Settings)
    for value in (loaded.stale_after_s, loaded.simulation.spread_bps):
        assert math.isfinite(value)
    for sub in (loaded.exits, loaded.exchange):
        for f in dataclasses.fields(sub):
            v = getattr(sub, f.name)
            assert not isinstance(v, Decimal) or v.is_finite()


@FUZZ
@given(st.text(max_size=200))
def test_load_settings_on_arbitrary_text(raw: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slt.toml"
        path.write_text(raw, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(ConfigError):
            load_settings(path)


def test_infinite_integer_setting_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "slt.toml"
    path.write_text("trading_period_s = inf\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(path)


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "slt.toml"
    path.write_bytes(b"mode = '\x80'\n")
    with pytest.raises(ConfigError):
        load_settings(path)


def test_a_bad_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slt.toml"
    path.write_text('mode = "yolo"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="mode"):
        load_settings(path)


# -- credentials -------------------------------------------------------------------------------

MARKER = "S3CR3T-MARKER"
cred_docs = st.fixed_dictionaries({}, optional={
    "api_key": toml_scalars | st.just(MARKER + "k"),
    "api_secret": toml_scalars | st.just(MARKER + "s"),
    "other": toml_scalars,
})


@FUZZ
@given(cred_docs | st.binary(max_size=100).map(lambda b: {"__raw__": b}),
       st.sampled_from([0o600, 0o400, 0o640, 0o644, 0o604, 0o700, 0o000]))
def test_load_credentials_raises_only_credentials_error(doc: dict[str, Any], mode: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keys.toml"
        if "__raw__" in doc:
            path.write_bytes(doc["__raw__"] + MARKER.encode())
        else:
            path.write_text(to_toml(doc), encoding="utf-8")
        os.chmod(path, mode)
        try:
            creds = load_credentials(env={}, key_file=path)
        except CredentialsError as exc:
            assert MARKER not in str(exc)
            return
        finally:
            os.chmod(path, 0o600)
    assert mode & 0o077 == 0
    assert creds.api_key and creds.api_secret
    shown = repr(creds).replace(creds.api_key[:4], "")  # the key's first 4 chars are shown
    assert "api_secret=<hidden>" in shown and creds.api_secret not in shown
    assert str(creds) == repr(creds)


@FUZZ
@given(st.dictionaries(st.sampled_from(["BINANCE_API_KEY", "BINANCE_API_SECRET", "X"]),
                       st.text(max_size=10), max_size=3))
def test_credentials_from_environment(env: dict[str, str]) -> None:
    try:
        creds = load_credentials(env=env)
    except CredentialsError:
        assert not (env.get("BINANCE_API_KEY", "").strip()
                    and env.get("BINANCE_API_SECRET", "").strip())
        return
    assert creds.api_secret == env["BINANCE_API_SECRET"].strip()
