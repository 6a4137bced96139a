"""What an emulator instance is: account, keys, limits and timings, as one frozen value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from slt.data import bundled_filters
from slt.domain.filters import SymbolFilters
from slt.domain.values import HOUR_MS


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Defaults are Binance's published values (BINANCE.md §1-3, §7-8).

    The key pair looks like a real one (64 alphanumerics) so that clients validating the key
    format accept it.
    """

    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port, read back from Emulator.rest_url
    api_key: str = "emulatorKey" + "0" * 53
    api_secret: str = "emulatorSecret" + "0" * 50
    filters: Mapping[str, SymbolFilters] = field(default_factory=bundled_filters)
    wallet: Decimal = Decimal(10_000)
    taker_fee: Decimal = Decimal("0.0005")
    maker_fee: Decimal = Decimal("0.0002")
    default_leverage: int = 20
    max_leverage: int = 125
    funding_rate: Decimal = Decimal("0.0001")
    dual_side_position: bool = False
    # Timing security
    recv_window_default: int = 5_000
    recv_window_max: int = 60_000
    max_ahead_ms: int = 1_000
    # Rate limits
    weight_limit: int = 2_400  # REQUEST_WEIGHT per minute
    order_limit_10s: int = 300
    order_limit_1m: int = 1_200
    first_ban_ms: int = 2 * 60_000  # doubles per repeat offence, up to 3 days
    # User data stream
    listen_key_ttl_ms: int = HOUR_MS
    # WebSocket
    ws_max_streams: int = 1_024
    ws_max_incoming_per_s: int = 10
    ws_heartbeat_s: float = 180.0
    ws_outbox_max: int = 10_000  # a client this far behind is disconnected, as Binance does
    # Control endpoint (/_emulator/...): served only with a token
    control_token: str | None = None
