"""Account endpoints: positions, balances, account, position and margin modes, leverage and its
brackets, symbol configuration, commission rates, income history, listenKey."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slt.emulator import errors, payloads, wire_history
from slt.emulator.config import EmulatorConfig
from slt.emulator.errors import ApiError, api_error
from slt.emulator.history import IncomeType
from slt.emulator.listen_keys import ListenKeys
from slt.emulator.params import Call, boolean, integer, text, window
from slt.emulator.payloads import Json, Numbers, PositionView
from slt.emulator.venue import Venue

MAX_INCOME_ROWS = 1000


class AccountApi:
    def __init__(
        self,
        venue: Venue,
        listen_keys: ListenKeys,
        numbers: Numbers,
        config: EmulatorConfig,
    ) -> None:
        self._venue = venue
        self._keys = listen_keys
        self._n = numbers
        self._config = config

    def position_risk_v2(self, call: Call) -> list[Json]:
        """Every symbol (or the one asked for), flat or not, as v2 lists them."""
        return [payloads.position_risk_v2_json(p, self._n) for p in self._positions(call)]

    def position_risk_v3(self, call: Call) -> list[Json]:
        """Only symbols with a position or open orders, as v3 lists them."""
        return [
            payloads.position_risk_v3_json(p, self._n)
            for p in self._positions(call)
            if p.qty or self._venue.has_open_orders(p.symbol)
        ]

    def balance(self, call: Call) -> list[Json]:
        return payloads.balance_json(self._venue.account())

    def account_v2(self, call: Call) -> Json:
        return payloads.account_v2_json(self._venue.account(), self._n)

    def account_v3(self, call: Call) -> Json:
        return payloads.account_v3_json(self._venue.account(), self._n)

    def position_mode(self, call: Call) -> Json:
        return {"dualSidePosition": self._venue.dual_side_position}

    def leverage(self, call: Call) -> Json:
        symbol = text(call.params, "symbol")
        leverage = integer(call.params, "leverage")
        if leverage is None:
            raise errors.missing("leverage")
        return {
            "leverage": self._venue.set_leverage(symbol, leverage),
            "maxNotionalValue": payloads.MAX_NOTIONAL,
            "symbol": symbol,
        }

    def margin_type(self, call: Call) -> Json:
        symbol = text(call.params, "symbol")
        margin_type = text(call.params, "marginType")
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise api_error(errors.INVALID_PARAMETER, "marginType")
        self._venue.set_margin_type(symbol, margin_type)
        return {"code": 200, "msg": "success"}

    def change_position_mode(self, call: Call) -> Json:
        self._venue.set_position_mode(_required_bool(call, "dualSidePosition"))
        return {"code": 200, "msg": "success"}

    def multi_assets_mode(self, call: Call) -> Json:
        return {"multiAssetsMargin": False}

    def change_multi_assets_mode(self, call: Call) -> Json:
        if not _required_bool(call, "multiAssetsMargin"):
            raise api_error(errors.ASSET_MODE_ALREADY_SET)
        raise ApiError(
            errors.INVALID_PARAMETER,
            "Invalid multiAssetsMargin: the emulator runs single-asset mode only.",
        )

    def leverage_bracket(self, call: Call) -> Json | list[Json]:
        symbol = call.params.get("symbol")
        if symbol:
            self._venue.check_symbol(symbol)
            return wire_history.leverage_bracket_json(symbol, self._config.max_leverage)
        return [
            wire_history.leverage_bracket_json(s, self._config.max_leverage)
            for s in sorted(self._config.filters)
        ]

    def symbol_config(self, call: Call) -> list[Json]:
        symbol = call.params.get("symbol")
        symbols = [symbol] if symbol else sorted(self._config.filters)
        return [
            wire_history.symbol_config_json(
                s, self._venue.leverage_of(s), self._venue.margin_type(s)
            )
            for s in symbols
        ]

    def commission_rate(self, call: Call) -> Json:
        symbol = text(call.params, "symbol")
        self._venue.check_symbol(symbol)
        return wire_history.commission_rate_json(
            symbol, self._config.maker_fee, self._config.taker_fee
        )

    def income(self, call: Call) -> list[Json]:
        p = call.params
        symbol = p.get("symbol") or None
        if symbol is not None:
            self._venue.check_symbol(symbol)
        kind_text = p.get("incomeType")
        try:
            kind = IncomeType(kind_text) if kind_text else None
        except ValueError:
            raise api_error(errors.INVALID_PARAMETER, "incomeType") from None
        rows = self._venue.history.incomes(
            window(call, default_limit=100, max_limit=MAX_INCOME_ROWS), symbol=symbol, kind=kind
        )
        return [wire_history.income_json(r) for r in rows]

    def open_listen_key(self, call: Call) -> Json:
        return {"listenKey": self._keys.open()}

    def keepalive_listen_key(self, call: Call) -> Json:
        return {"listenKey": self._keys.keepalive(call.params.get("listenKey"))}

    def close_listen_key(self, call: Call) -> Json:
        self._keys.close(call.params.get("listenKey"))
        return {}

    def _positions(self, call: Call) -> list[PositionView]:
        positions = self._venue.account().positions
        symbol = call.params.get("symbol")
        if not symbol:
            return list(positions)
        chosen = [p for p in positions if p.symbol == symbol]
        if not chosen:
            raise api_error(errors.INVALID_SYMBOL)
        return chosen


def _required_bool(call: Call, name: str) -> bool:
    text(call.params, name)
    return boolean(call.params, name)


ROUTES: dict[tuple[str, str], Callable[[AccountApi, Call], Any]] = {
    ("GET", "/fapi/v2/positionRisk"): AccountApi.position_risk_v2,
    ("GET", "/fapi/v3/positionRisk"): AccountApi.position_risk_v3,
    ("GET", "/fapi/v2/balance"): AccountApi.balance,
    ("GET", "/fapi/v3/balance"): AccountApi.balance,
    ("GET", "/fapi/v2/account"): AccountApi.account_v2,
    ("GET", "/fapi/v3/account"): AccountApi.account_v3,
    ("GET", "/fapi/v1/positionSide/dual"): AccountApi.position_mode,
    ("POST", "/fapi/v1/positionSide/dual"): AccountApi.change_position_mode,
    ("POST", "/fapi/v1/leverage"): AccountApi.leverage,
    ("POST", "/fapi/v1/marginType"): AccountApi.margin_type,
    ("GET", "/fapi/v1/multiAssetsMargin"): AccountApi.multi_assets_mode,
    ("POST", "/fapi/v1/multiAssetsMargin"): AccountApi.change_multi_assets_mode,
    ("GET", "/fapi/v1/leverageBracket"): AccountApi.leverage_bracket,
    ("GET", "/fapi/v1/symbolConfig"): AccountApi.symbol_config,
    ("GET", "/fapi/v1/commissionRate"): AccountApi.commission_rate,
    ("GET", "/fapi/v1/income"): AccountApi.income,
    ("POST", "/fapi/v1/listenKey"): AccountApi.open_listen_key,
    ("PUT", "/fapi/v1/listenKey"): AccountApi.keepalive_listen_key,
    ("DELETE", "/fapi/v1/listenKey"): AccountApi.close_listen_key,
}
