"""Symbol trading rules (Binance exchangeInfo filters) and exact rounding to them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from slt.domain.values import Side

# Binance's codes for PERCENT_PRICE (BINANCE.md §5-6).
PRICE_ABOVE_BAND = -4016
PRICE_BELOW_BAND = -4024
MARKET_OUTSIDE_BAND = -4131


class FilterViolation(ValueError):
    """An order breaks a symbol filter. `code` mirrors Binance's error code for the same case."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL and PERCENT_PRICE of one symbol.

    `percent_up`/`percent_down` are PERCENT_PRICE's multipliers of the mark price (None: the
    symbol has no such filter)."""

    symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)  # 0: no maximum, as Binance encodes it
    market_step_size: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    percent_up: Decimal | None = None
    percent_down: Decimal | None = None

    def round_price(self, price: Decimal | float, *, up: bool = False) -> Decimal:
        """Snap a price to the tick grid (which Binance counts from minPrice): down by
        default, up when `up`."""
        offset = _to_grid(Decimal(str(price)) - self.min_price, self.tick_size, up)
        return (self.min_price + offset).quantize(self.tick_size)

    def round_qty(self, qty: Decimal | float, *, market: bool = False) -> Decimal:
        """Round a quantity down to the step: never more exposure than was asked for."""
        step = self.market_step_size if market and self.market_step_size else self.step_size
        return _to_grid(Decimal(str(qty)), step, up=False)

    def check(self, qty: Decimal, price: Decimal, *, market: bool, reduce_only: bool) -> None:
        """Raise FilterViolation unless an order of `qty` at `price` passes every filter.

        Reduce-only orders are exempt from MIN_NOTIONAL, as on Binance, so that a position
        can always be closed.
        """
        step = self.market_step_size if market and self.market_step_size else self.step_size
        lo = self.market_min_qty if market and self.market_min_qty is not None else self.min_qty
        hi = self.market_max_qty if market and self.market_max_qty is not None else self.max_qty
        if qty <= 0:
            raise FilterViolation(-4003, f"{self.symbol}: quantity {qty} must be positive")
        if qty % step != 0:
            raise FilterViolation(
                -4023, f"{self.symbol}: quantity {qty} is not a multiple of {step}"
            )
        if qty < lo:
            raise FilterViolation(-4004, f"{self.symbol}: quantity {qty} below minimum {lo}")
        if hi and qty > hi:
            raise FilterViolation(-4005, f"{self.symbol}: quantity {qty} above maximum {hi}")
        if not market:
            if price <= 0 or (price - self.min_price) % self.tick_size != 0:
                raise FilterViolation(
                    -4014, f"{self.symbol}: price {price} is not a multiple of {self.tick_size}"
                )
            if price < self.min_price:
                raise FilterViolation(-4013, f"{self.symbol}: price {price} below {self.min_price}")
            if self.max_price and price > self.max_price:
                raise FilterViolation(-4016, f"{self.symbol}: price {price} above {self.max_price}")
        if not reduce_only and qty * price < self.min_notional:
            raise FilterViolation(
                -4164,
                f"{self.symbol}: notional {qty * price} below minimum {self.min_notional}",
            )


    def check_percent_price(
        self, side: Side, price: Decimal, mark: Decimal, *, market: bool = False
    ) -> None:
        """Raise FilterViolation if `price` is outside PERCENT_PRICE's band around `mark`.

        Binance bounds a BUY from above (price <= mark x multiplierUp) and a SELL from below
        (price >= mark x multiplierDown). For a MARKET order `price` is the best counter price
        it would take, refused with -4131. Without a mark (no price yet) nothing is checked.
        """
        if mark <= 0:
            return
        if side is Side.BUY and self.percent_up is not None:
            bound = mark * self.percent_up
            if price > bound:
                raise FilterViolation(
                    MARKET_OUTSIDE_BAND if market else PRICE_ABOVE_BAND,
                    _band_message(self.symbol, market, "higher", bound, self.tick_size),
                )
        if side is Side.SELL and self.percent_down is not None:
            bound = mark * self.percent_down
            if price < bound:
                raise FilterViolation(
                    MARKET_OUTSIDE_BAND if market else PRICE_BELOW_BAND,
                    _band_message(self.symbol, market, "lower", bound, self.tick_size),
                )


def _band_message(symbol: str, market: bool, way: str, bound: Decimal, tick: Decimal) -> str:
    if market:
        return (
            f"{symbol}: the counterparty's best price does not meet the PERCENT_PRICE filter limit."
        )
    return f"{symbol}: limit price can't be {way} than {bound.quantize(tick)}."


def _to_grid(value: Decimal, step: Decimal, up: bool) -> Decimal:
    units = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (units * step).quantize(step)


def filters_from_exchange_info(payload: dict) -> dict[str, SymbolFilters]:
    """Parse `GET /fapi/v1/exchangeInfo` into filters per symbol (trading symbols only)."""
    result: dict[str, SymbolFilters] = {}
    for sym in payload.get("symbols", []):
        if sym.get("status", "TRADING") != "TRADING":
            continue
        by_type = {f["filterType"]: f for f in sym.get("filters", [])}
        try:
            price = by_type["PRICE_FILTER"]
            lot = by_type["LOT_SIZE"]
        except KeyError as missing:
            raise ValueError(f"exchangeInfo: {sym.get('symbol')} lacks filter {missing}") from None
        market = by_type.get("MARKET_LOT_SIZE", {})
        notional = by_type.get("MIN_NOTIONAL", {})
        percent = by_type.get("PERCENT_PRICE", {})
        for block in (price, lot, market, notional, percent):
            for key, value in block.items():
                numeric = key != "filterType" and isinstance(value, str)
                if numeric and not Decimal(value).is_finite():
                    raise ValueError(f"exchangeInfo: {sym['symbol']} {key} is {value!r}")
        result[sym["symbol"]] = SymbolFilters(
            symbol=sym["symbol"],
            tick_size=Decimal(price["tickSize"]).normalize(),
            min_price=Decimal(price.get("minPrice", "0")),
            max_price=Decimal(price.get("maxPrice", "0")),
            step_size=Decimal(lot["stepSize"]).normalize(),
            min_qty=Decimal(lot["minQty"]),
            max_qty=Decimal(lot["maxQty"]),
            min_notional=Decimal(notional.get("notional", notional.get("minNotional", "0"))),
            market_step_size=Decimal(market["stepSize"]).normalize() if market else None,
            market_min_qty=Decimal(market["minQty"]) if market else None,
            market_max_qty=Decimal(market["maxQty"]) if market else None,
            percent_up=Decimal(percent["multiplierUp"]) if percent else None,
            percent_down=Decimal(percent["multiplierDown"]) if percent else None,
        )
    return result


def inferred_filters(symbol: str, price_decimals: int, reference_price: float) -> SymbolFilters:
    """Plausible filters for a symbol the bundled exchangeInfo does not know.

    Tick from the finest price precision seen in the data; step so that one step is worth
    about 0.1-1 USDT at the reference price; a 5 USDT minimum notional (Binance's floor for
    most symbols). Used only in simulation, never to send real orders.
    """
    if reference_price <= 0:
        raise ValueError(f"{symbol}: reference price must be positive")
    tick = Decimal(1).scaleb(-max(price_decimals, 0))
    magnitude = 0
    while Decimal(10) ** magnitude * Decimal(repr(reference_price)) > 1:
        magnitude -= 1
    while Decimal(10) ** magnitude * Decimal(repr(reference_price)) < Decimal("0.1"):
        magnitude += 1
    step = Decimal(1).scaleb(magnitude)
    return SymbolFilters(
        symbol=symbol,
        tick_size=tick,
        step_size=step,
        min_qty=step,
        max_qty=Decimal(10**9),
        min_notional=Decimal(5),
    )
