from decimal import Decimal
from pathlib import Path

import pytest

from slt.config import ConfigError, Settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slt.toml"
    path.write_text(text)
    return path


def test_defaults_are_valid_and_simulation_first() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.mode == "simulate"
    assert settings.risk.risk_per_trade == Decimal("0.01")


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[risk]\nrisk_per_trade = "0.005"\n[live]\nrest_url = "http://a"\n')
    settings = load_settings(
        path,
        overrides={"live.universe_size": 3},
        env={"SLT_BINANCE_REST_URL": "http://127.0.0.1:9", "SLT_BINANCE_WS_URL": "ws://b"},
    )
    assert settings.risk.risk_per_trade == Decimal("0.005")
    assert settings.live.rest_url == "http://127.0.0.1:9"
    assert settings.live.ws_url == "ws://b"
    assert settings.live.universe_size == 3


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("mode = 'yolo'\n", "mode"),
        ("[risk]\nmax_leverage = 0\n", "risk.max_leverage"),
        ("[risk]\nrisk_per_trade = 'abc'\n", "risk.risk_per_trade"),
        ("[risk]\nrisk_per_trade = 'nan'\n", "risk.risk_per_trade"),
        ("[exits]\nmax_hold_minutes = 1.5\n", "exits.max_hold_minutes"),
        ("[strategy]\nfast = 60\nslow = 50\n", "strategy"),
        ("[live]\nsymbols = 'BTCUSDT'\n", "live.symbols"),
        ("[live]\nsymbols = [1]\n", "live.symbols[0]"),
        ("[live]\non_mismatch = 'ignore'\n", "live.on_mismatch"),
        ("[live]\nrest_url = 'fapi.binance.com'\n", "live.rest_url"),
        ("[typo]\nx = 1\n", "typo"),
        ("risk = 3\n", "risk"),
        ("trading_period_s = -1\n", "trading_period_s"),
        ("stale_after_s = -5\n", "stale_after_s"),
        ("[simulation]\nstale_after_s = 0\n", "simulation.stale_after_s"),
        ("[simulation]\nspread_bps = -1\n", "simulation.spread_bps"),
        ("[exchange]\ntaker_fee = '-0.0005'\n", "exchange.taker_fee"),
        ("[exchange]\nmaker_fee = -0.0002\n", "exchange.maker_fee"),
        ("[exchange]\nwallet = -100\n", "exchange.wallet"),
        ("[exchange]\nwallet = 0\n", "exchange.wallet"),
        ("[risk]\nrisk_per_trade = 1.0\n", "risk.risk_per_trade"),
        ("[risk]\nrisk_per_trade = '0.0501'\n", "risk.risk_per_trade"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert str(info.value).startswith(key), str(info.value)


def test_unreadable_or_broken_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"slt\.toml"):
        load_settings(write(tmp_path, "risk = [\n"))


def test_later_files_win_key_by_key_and_any_setting_comes_from_the_environment(
    tmp_path: Path,
) -> None:
    first = tmp_path / "a.toml"
    first.write_text('[risk]\nmax_leverage = 3\nrisk_per_trade = "0.02"\n')
    second = tmp_path / "b.toml"
    second.write_text("[risk]\nmax_leverage = 4\n")
    settings = load_settings(
        [first, second],
        env={"SLT__LIVE__SYMBOLS": '["ETHUSDT"]', "SLT__EXITS__EXCHANGE_STOP": "false"},
    )
    assert settings.risk.max_leverage == 4
    assert settings.risk.risk_per_trade == Decimal("0.02")
    assert settings.live.symbols == ("ETHUSDT",)
    assert settings.exits.exchange_stop is False
    with pytest.raises(ConfigError, match=r"risk\.max_leverage"):
        load_settings(env={"SLT__RISK__MAX_LEVERAGE": "500"})


def test_high_risk_needs_the_explicit_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"risk\.allow_high_risk = true"):
        load_settings(write(tmp_path, "[risk]\nrisk_per_trade = 0.2\n"))
    settings = load_settings(
        write(tmp_path, "[risk]\nrisk_per_trade = 0.2\nallow_high_risk = true\n")
    )
    assert settings.risk.risk_per_trade == Decimal("0.2")
    at_limit = load_settings(write(tmp_path, "[risk]\nrisk_per_trade = 0.05\n"))
    assert at_limit.risk.risk_per_trade == Decimal("0.05")
