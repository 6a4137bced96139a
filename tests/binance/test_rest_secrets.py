"""The API key and secret never reach a log record, a repr or an exception message."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from slt.adapters.binance.http.client import BinanceHttpClient, RestConfig
from slt.adapters.clocks.simulated import SimulatedClock
from slt.domain.orders import OrderRequest, OrderType
from slt.domain.values import Side
from slt.ports.order_gateway import GatewayError

from test_rest_support import (
    API_KEY,
    API_SECRET,
    CREDENTIALS,
    LOCAL_MS,
    BinanceStub,
    Reply,
    error,
    payload,
    stub_gateway,
)


def test_credentials_and_client_reprs_hide_the_secrets() -> None:
    client = BinanceHttpClient(RestConfig(), SimulatedClock(LOCAL_MS), CREDENTIALS)
    for text in (repr(CREDENTIALS), str(CREDENTIALS), repr(client), f"{CREDENTIALS}"):
        assert API_SECRET not in text and API_KEY not in text


def test_no_log_record_at_debug_carries_the_key_or_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[GatewayError] = []

    async def main() -> None:
        stub = BinanceStub()
        stub.queue("GET", "/fapi/v2/balance",
                   error(-1021, "Timestamp for this request is outside of the recvWindow."),
                   Reply(body=payload("docs/balance__docs-example.json")),
                   Reply(raw="<html>oops</html>"),
                   error(-2015, "Invalid API-key, IP, or permissions for action.", status=401))
        stub.queue("POST", "/fapi/v1/order", Reply(drop=True),
                   error(-2019, "Margin is insufficient."))
        order = OrderRequest("c1", "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1))
        async with stub_gateway(stub) as gateway:
            await gateway.balance()
            for call in (gateway.balance, gateway.balance, lambda: gateway.place(order),
                         lambda: gateway.place(order)):
                try:
                    await call()
                except GatewayError as exc:
                    raised.append(exc)

    asyncio.run(main())
    assert len(raised) == 4
    assert caplog.records, "the client logs at DEBUG; the test must see its records"
    formatter = logging.Formatter()
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        assert API_KEY not in text and API_SECRET not in text, record.getMessage()
    for exc in raised:
        assert API_KEY not in str(exc) and API_SECRET not in str(exc)
        assert API_KEY not in repr(exc) and API_SECRET not in repr(exc)
