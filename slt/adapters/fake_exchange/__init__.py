"""In-process simulated Binance USDT-M account (one-way mode, cross margin) implementing the
OrderGateway port.

Choices where Binance leaves room or a simulation needs one (see also codes.py):

- Executions are complete: a MARKET order, a triggered conditional or a touched LIMIT fills its
  whole remaining quantity at one price. `SimOrder.record_fill` and `_execute` work on any
  quantity, so a partial-fill model can slot in by calling `_execute` with less.
- MARKET orders and triggered conditionals take the last quote: ask for a buy, bid for a sell,
  converted exactly with `Decimal(repr(float))`, taker fee. MIN_NOTIONAL of a MARKET order is
  checked at that price (Binance uses the mark price).
- A resting LIMIT fills at its own price as maker once the opposite best price reaches it.
  A LIMIT that crosses the book when placed fills at once at the quote, as taker.
- A conditional order whose trigger is already crossed at placement is refused with -2021, as
  Binance does. Conditionals are not margin-checked until they fire (Binance's algo service);
  LIMIT orders are checked when placed but reserve nothing. An order that fires or is touched
  without enough margin is EXPIRED with reason "Margin is insufficient.".
- Margin: an execution that opens exposure must leave the available balance (wallet + unrealised
  pnl - initial margin of every position, all at the mark = mid of the last quote, fee paid)
  >= 0, else -2019. Reductions are never margin-checked.
- reduce_only: refused with -2022 if it would not reduce the position when placed; capped to the
  position when it executes (the order then counts as FILLED at the capped quantity); a working
  reduce-only order that no longer reduces after a fill (position flat or flipped) is EXPIRED at
  once, like Binance's "knocked out by reduce-only" expiry.
- Client ids are unique per symbol over the whole life of the fake, not only among open orders
  as on Binance: a stricter fake catches a resend that real Binance would execute twice.
- Orders refused at placement are not recorded: `query` returns None for them, as Binance does.
"""

from slt.adapters.fake_exchange.exchange import FakeExchange

__all__ = ["FakeExchange"]
