"""HMAC signing (Binance's documented test vector) and parameter encoding."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from slt.adapters.binance.common import weights
from slt.adapters.binance.http.client import RestConfig
from slt.adapters.binance.http.signing import Param, encode, plain, sign, signed

from test_rest_support import (
    API_KEY,
    API_SECRET,
    LOCAL_MS,
    SERVER_AHEAD_MS,
    BinanceStub,
    Reply,
    stub_client,
)

DOC_QUERY = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
DOC_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_documented_signature_vector() -> None:
    assert sign(API_SECRET, DOC_QUERY) == DOC_SIGNATURE


def test_the_documented_parameters_encode_and_sign_to_the_documented_query() -> None:
    params: dict[str, Param] = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": Decimal("1"),
        "price": Decimal("9000.00"),
        "timeInForce": "GTC",
        "recvWindow": 5000,
        "timestamp": 1591702613943,
    }
    assert encode(params) == DOC_QUERY
    assert signed(encode(params), API_SECRET) == f"{DOC_QUERY}&signature={DOC_SIGNATURE}"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("0.0010", "0.001"),
        ("1E+2", "100"),
        ("65000.00", "65000"),
        ("0.00000001", "0.00000001"),
        ("1e-9", "0.000000001"),
        ("-0.000", "0"),
        ("0", "0"),
        ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ],
)
def test_decimals_go_out_plain(value: str, wire: str) -> None:
    assert plain(Decimal(value)) == wire


def test_non_finite_decimals_are_refused() -> None:
    with pytest.raises(ValueError):
        plain(Decimal("NaN"))


def test_encoding_keeps_order_escapes_and_drops_none() -> None:
    query = encode({"b": True, "a": "x:y/z", "skip": None, "q": Decimal("1.50"), "n": 7})
    assert query == "b=true&a=x%3Ay%2Fz&q=1.5&n=7"


def test_signed_requests_carry_key_recv_window_timestamp_and_a_valid_signature() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/openOrders", Reply(body=[]))
        async with stub_client(stub, recv_window_ms=2500) as client:
            await client.send(weights.OPEN_ORDERS, {"symbol": "BTCUSDT"})
        (seen,) = stub.requests("GET", "/fapi/v1/openOrders")
        params = seen.params
        assert params["recvWindow"] == "2500"
        # The stub's clock runs ahead: the timestamp is the server's time, not ours.
        assert params["timestamp"] == str(LOCAL_MS + SERVER_AHEAD_MS)
        unsigned, _, signature = seen.raw_query.rpartition("&signature=")
        assert signature == sign(API_SECRET, unsigned)
        assert seen.headers["X-MBX-APIKEY"] == API_KEY

    asyncio.run(main())


def test_public_requests_are_neither_signed_nor_keyed() -> None:
    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v1/premiumIndex", Reply(body={}))
        async with stub_client(stub) as client:
            await client.send(weights.PREMIUM_INDEX, {"symbol": "BTCUSDT"})
        (seen,) = stub.requests("GET", "/fapi/v1/premiumIndex")
        assert seen.raw_query == "symbol=BTCUSDT"
        assert "X-MBX-APIKEY" not in seen.headers
        assert not stub.requests("GET", "/fapi/v1/time")  # no time sync for public data

    asyncio.run(main())


@pytest.mark.parametrize("recv_window", [0, -1, 60_001])
def test_recv_window_is_validated(recv_window: int) -> None:
    with pytest.raises(ValueError, match="recv_window"):
        RestConfig(recv_window_ms=recv_window)
