"""Account endpoints: positions, balances, account, position mode, leverage, listenKey."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slt.emulator import errors, payloads
from slt.emulator.errors import api_error
from slt.emulator.listen_keys import ListenKeys
from slt.emulator.params import Call, integer, text
from slt.emulator.payloads import Json, Numbers, PositionView
from slt.emulator.venue import Venue


class AccountApi:
    def __init__(self, venue: Venue, listen_keys: ListenKeys, numbers: Numbers) -> None:
        self._venue = venue
        self._keys = listen_keys
        self._n = numbers

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


ROUTES: dict[tuple[str, str], Callable[[AccountApi, Call], Any]] = {
    ("GET", "/fapi/v2/positionRisk"): AccountApi.position_risk_v2,
    ("GET", "/fapi/v3/positionRisk"): AccountApi.position_risk_v3,
    ("GET", "/fapi/v2/balance"): AccountApi.balance,
    ("GET", "/fapi/v3/balance"): AccountApi.balance,
    ("GET", "/fapi/v2/account"): AccountApi.account_v2,
    ("GET", "/fapi/v3/account"): AccountApi.account_v3,
    ("GET", "/fapi/v1/positionSide/dual"): AccountApi.position_mode,
    ("POST", "/fapi/v1/leverage"): AccountApi.leverage,
    ("POST", "/fapi/v1/marginType"): AccountApi.margin_type,
    ("POST", "/fapi/v1/listenKey"): AccountApi.open_listen_key,
    ("PUT", "/fapi/v1/listenKey"): AccountApi.keepalive_listen_key,
    ("DELETE", "/fapi/v1/listenKey"): AccountApi.close_listen_key,
}
