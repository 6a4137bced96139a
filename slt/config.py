"""Settings: defaults, overridden by a TOML file, validated before anything starts.

A bad value stops start-up with a message naming its key (`risk.max_leverage: ...`).
Secrets are not settings: API keys come from the environment or a key file (Binance adapters).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_type_hints

from slt.application.learner.config import LearnerConfig
from slt.domain.realism import Realism, RecordedFunding
from slt.domain.sizing import RiskLimits
from slt.domain.strategy import EmaTrendParams

MODES = ("simulate", "paper", "live")
# Above this a few losing trades in a row empty the account; only an explicit
# `risk.allow_high_risk = true` lets a config go higher.
MAX_RISK_PER_TRADE = Decimal("0.05")


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the offending key."""


@dataclass(frozen=True, slots=True)
class ExitConfig:
    max_hold_minutes: int = 24 * 60
    hard_loss_fraction: Decimal = Decimal("0.5")
    trail_activation_r: Decimal = Decimal(1)
    exchange_stop: bool = True


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    wallet: Decimal = Decimal(10_000)
    taker_fee: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.0002")

    def __post_init__(self) -> None:
        if self.wallet <= 0:
            raise ConfigError(f"exchange.wallet: must be positive, got {self.wallet}")
        for key in ("taker_fee", "maker_fee"):
            # Binance's maker rebates are VIP-only and tiny; a negative fee here is a typo
            # that would make every simulated trade look better than it can be.
            fee = getattr(self, key)
            if not 0 <= fee < Decimal("0.01"):
                raise ConfigError(f"exchange.{key}: must be in [0, 0.01), got {fee}")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    spread_bps: float = 1.0  # for kline data expanded into quotes
    # Kline data yields a quote every third of a bar, so the live default (5 s) would call
    # every simulated quote stale.
    stale_after_s: float = 600.0
    # slt.adapters.fake_exchange.realism: a triggered stop fills at its trigger (or past a gap)
    # worsened by this; funding every 8 h at the recorded rate, else at `funding_rate`; an
    # isolated-margin liquidation price with this maintenance margin rate.
    stop_slippage_bps: Decimal = Decimal(2)
    funding_rate: Decimal = Decimal(0)
    maintenance_margin_rate: Decimal = Decimal("0.004")

    def __post_init__(self) -> None:
        if abs(self.funding_rate) > Decimal("0.03"):
            raise ConfigError("simulation.funding_rate: must be within +-0.03 (3% per 8 h)")
        if self.spread_bps < 0:
            raise ConfigError(f"simulation.spread_bps: must not be negative, got {self.spread_bps}")
        if self.stale_after_s <= 0:
            raise ConfigError(
                f"simulation.stale_after_s: must be positive, got {self.stale_after_s}"
            )
        self.realism()  # validates the other keys

    def realism(self) -> Realism:
        return Realism(
            slippage_bps=self.stop_slippage_bps,
            maintenance_margin_rate=self.maintenance_margin_rate,
            funding=RecordedFunding(default=self.funding_rate),
        )


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """`slt live` (paper by default; real orders only with --live)."""

    symbols: tuple[str, ...] = ()  # empty: the `universe_size` most traded USDT perpetuals
    universe_size: int = 10
    rest_url: str = "https://fapi.binance.com"
    ws_url: str = "wss://fstream.binance.com"
    recv_window_ms: int = 5000
    on_mismatch: str = "halt"  # start-up reconciliation: "halt" new entries, or "adopt"
    status_interval_s: int = 10
    state_dir: str = "slt-state"  # holds paper.db and live.db, kept apart
    # Status page, JSON API and /metrics (bearer token: SLT_STATUS_TOKEN, or one printed at
    # start). 0 turns the server off; it binds to loopback unless told otherwise.
    status_port: int = 0
    status_host: str = "127.0.0.1"
    # Log file in `state_dir` (slt.log, rotated at this size, `log_backups` old files kept);
    # 0 turns it off.
    log_max_bytes: int = 10_000_000
    log_backups: int = 5
    # Seconds the notifications still queued at shutdown may take to go out.
    notify_flush_s: float = 5.0
    # Commands from the Telegram chat (SLT_TELEGRAM_CHAT_ID) when Telegram is configured.
    telegram_commands: bool = True
    telegram_api: str = "https://api.telegram.org"
    # Applied to every traded symbol at start (real orders only). Cross is Binance's default;
    # "isolated" caps what a liquidation can take at the position's own margin.
    margin_type: str = "cross"
    # While the stream of a symbol holding a position is stale, its quote is read over REST
    # (one bookTicker for all symbols, weight 5) at most this often, so exits keep being checked.
    rest_quote_interval_s: float = 2.0
    # How often the exchange's positions are read over REST (besides after every user-stream
    # reconnect) and fed to the position controller as snapshots.
    position_snapshot_interval_s: int = 60
    # Longest single wait at start-up while the exchange answers 429/5xx or refuses the
    # connection; an IP ban is waited out to its announced end.
    startup_backoff_cap_s: float = 300.0

    def __post_init__(self) -> None:
        if self.on_mismatch not in ("halt", "adopt"):
            raise ConfigError(f"live.on_mismatch: {self.on_mismatch!r} is not 'halt' or 'adopt'")
        if self.margin_type not in ("cross", "isolated"):
            raise ConfigError(
                f"live.margin_type: {self.margin_type!r} is not 'cross' or 'isolated'"
            )
        for key in ("rest_quote_interval_s", "position_snapshot_interval_s",
                    "startup_backoff_cap_s"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"live.{key}: must be positive")
        if not 1 <= self.universe_size <= 200:
            raise ConfigError("live.universe_size: must be between 1 and 200")
        if not 100 <= self.recv_window_ms <= 60_000:
            raise ConfigError("live.recv_window_ms: must be between 100 and 60000")
        if self.status_interval_s <= 0:
            raise ConfigError("live.status_interval_s: must be positive")
        if not 0 <= self.status_port <= 65535:
            raise ConfigError("live.status_port: must be a TCP port (0 turns the server off)")
        for key in ("log_max_bytes", "log_backups"):
            if getattr(self, key) < 0:
                raise ConfigError(f"live.{key}: must not be negative")
        if not 0 <= self.notify_flush_s <= 60:
            raise ConfigError("live.notify_flush_s: must be between 0 and 60")
        for key in ("rest_url", "ws_url", "telegram_api"):
            url = getattr(self, key)
            if not url.startswith(("http://", "https://", "ws://", "wss://")):
                raise ConfigError(f"live.{key}: {url!r} is not an http(s)/ws(s) URL")
        for symbol in self.symbols:
            if not symbol.isalnum() or symbol.upper() != symbol:
                raise ConfigError(f"live.symbols: {symbol!r} is not a symbol like BTCUSDT")


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = "simulate"
    interval: str = "15m"
    trading_period_s: int = 60
    virtual_period_s: int = 10
    stale_after_s: float = 5.0
    risk: RiskLimits = field(default_factory=RiskLimits)
    exits: ExitConfig = field(default_factory=ExitConfig)
    strategy: EmaTrendParams = field(default_factory=EmaTrendParams)
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
        for key in ("trading_period_s", "virtual_period_s", "stale_after_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key}: must be positive")
        if self.risk.risk_per_trade > MAX_RISK_PER_TRADE and not self.risk.allow_high_risk:
            raise ConfigError(
                f"risk.risk_per_trade: {self.risk.risk_per_trade} is above "
                f"{MAX_RISK_PER_TRADE:%} of equity per trade; set risk.allow_high_risk = true "
                "if you really mean it"
            )


# Environment variables that override a setting (they win over config files).
ENV_OVERRIDES = {
    "SLT_BINANCE_REST_URL": "live.rest_url",
    "SLT_BINANCE_WS_URL": "live.ws_url",
}


ENV_PREFIX = "SLT__"  # SLT__RISK__MAX_LEVERAGE=3 sets risk.max_leverage


def load_settings(
    path: Path | Sequence[Path] | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then each TOML file in order (later files win key by key), then environment
    variables, then `overrides`.

    Any setting can come from the environment as `SLT__<SECTION>__<KEY>` (a TOML value, or a
    plain string), besides the named variables of ENV_OVERRIDES.
    """
    paths = [path] if isinstance(path, Path) else list(path or ())
    data: dict[str, Any] = {}
    for file in paths:
        try:
            _merge(data, tomllib.loads(file.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {file}: {exc}") from None
    env = env or {}
    layered = {key: env[name] for name, key in ENV_OVERRIDES.items() if env.get(name)}
    for name, value in sorted(env.items()):
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            layered[name[len(ENV_PREFIX) :].lower().replace("__", ".")] = _env_value(value)
    for dotted, value in {**layered, **(overrides or {})}.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{dotted}: {part} is not a table")
        node[leaf] = value
    return _build(Settings, data, "")


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _env_value(text: str) -> Any:
    """`3`, `0.5`, `true`, `["BTCUSDT"]` as TOML values; anything else as the string itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown setting")
    kwargs = {}
    for name in names & set(data):
        kwargs[name] = _convert(hints[name], data[name], f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        # Domain validators name the field as `Class.field`; make that the full key.
        message = str(exc).replace(f"{cls.__name__}.", prefix)
        if prefix and not message.startswith(prefix):
            message = f"{prefix.rstrip('.')}: {message}"
        raise ConfigError(message) from None


def _convert(kind: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, key + ".")
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list")
        item = typing.get_args(kind)[0]
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if isinstance(kind, types.UnionType):
        if value is None:
            return None
        kind = next(k for k in kind.__args__ if k is not type(None))
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind is int:
            if isinstance(value, bool) or int(value) != value:
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            result = float(value)
            if result != result or result in (float("inf"), float("-inf")):
                raise ValueError
            return result
        if kind is Decimal:
            if isinstance(value, bool):
                raise ValueError
            result = Decimal(str(value))
            if not result.is_finite():
                raise ValueError
            return result
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise ConfigError(f"{key}: {value!r} is not a valid {kind.__name__}") from None
    raise ConfigError(f"{key}: unsupported setting type {kind}")
