"""A local Binance USDT-M futures protocol emulator on 127.0.0.1, for end-to-end tests of the
real Binance adapters (no test may reach Binance).

One aiohttp server serves the REST API (`/fapi/...`, Binance's JSON shapes, weights, signing,
429/418 progression) and the WebSocket streams (`/public`, `/market`, `/private` and the legacy
root routes). Outcomes come from the FakeExchange; `Emulator.push_quote` moves the market and
everything it fills or triggers is reported on the user-data stream. Time comes only from the
Clock port. Module guide:

- server: the Emulator and its REST pipeline; config: EmulatorConfig
- auth, limits, errors, params: request checks, weights, error answers, parameter parsing
- rest_market, rest_account, rest_trade: endpoint handlers and their route tables
- ws_api: the WebSocket API (/ws-fapi/v1) over the same handlers
- venue, orders: trading through the FakeExchange and Binance's order records
- history: the account's trades and income (userTrades, income)
- market: quotes, candles, market streams; streams, listen_keys: WebSocket hub, user stream key
- payloads, wire_history: wire shapes; ledger: requests and fills for assertions
- faults: chaos switches; control: the same switches from another process (HTTP, schedules)
- replay_pump: `replay_into`; cli: `run_emulator` (`slt emulator`)
"""

from slt.emulator.config import EmulatorConfig
from slt.emulator.faults import Failure, Faults
from slt.emulator.replay_pump import replay_into
from slt.emulator.server import Emulator
from slt.emulator.streams import Channel, Malformed

__all__ = ["Channel", "Emulator", "EmulatorConfig", "Failure", "Faults", "Malformed", "replay_into"]
