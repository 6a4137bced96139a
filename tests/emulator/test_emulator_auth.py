"""API key, HMAC signature and timestamp checks (BINANCE.md §1)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from slt.emulator.auth import merged_params, sign, signature_payload

from emu_helpers import CONFIG, ManualClock, async_test, running

DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
DOC_PARAMS = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
DOC_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
BALANCE = "/fapi/v2/balance"


def test_signature_matches_the_binance_doc_test_vector() -> None:
    assert sign(DOC_SECRET, DOC_PARAMS) == DOC_SIGNATURE


def test_total_params_is_query_then_body_without_ampersand_or_signature() -> None:
    payload = signature_payload("symbol=BTCUSDT&side=BUY", "quantity=1&signature=abc")
    assert payload == "symbol=BTCUSDT&side=BUYquantity=1"


def test_query_string_wins_over_body() -> None:
    assert merged_params("side=BUY", "side=SELL&quantity=1") == {"side": "BUY", "quantity": "1"}


@async_test
async def test_the_doc_example_request_is_accepted_with_its_key_pair() -> None:
    clock = ManualClock(1591702613943)
    config = replace(
        CONFIG,
        api_key="dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83",
        api_secret=DOC_SECRET,
        filters={},
    )
    async with running(config, clock) as (_, client):
        status, _, body = await client.raw(
            "GET", BALANCE, query=f"{DOC_PARAMS}&signature={DOC_SIGNATURE.upper()}"
        )
        assert status == 200, body  # the signature is not case-sensitive


@async_test
async def test_a_signature_over_query_and_body_together_is_checked() -> None:
    async with running() as (emulator, client):
        query = "symbol=BTCUSDT&side=BUY"
        body = f"type=MARKET&quantity=0.01&timestamp={emulator.clock.now_ms()}"
        good = client.sign(query + body)
        status, _, payload = await client.raw(
            "POST", "/fapi/v1/order", query=query, body=f"{body}&signature={good}"
        )
        # Accepted by auth; refused by the engine for want of a quote (-2020), not -1022.
        assert (status, payload["code"]) == (400, -2020)
        joined = client.sign(f"{query}&{body}")
        status, _, payload = await client.raw(
            "POST", "/fapi/v1/order", query=query, body=f"{body}&signature={joined}"
        )
        assert (status, payload["code"]) == (400, -1022)


@async_test
async def test_a_wrong_signature_is_refused_with_1022() -> None:
    async with running() as (emulator, client):
        query = urlencode({"timestamp": emulator.clock.now_ms()})
        status, _, body = await client.raw("GET", BALANCE, query=f"{query}&signature={'0' * 64}")
        assert (status, body["code"]) == (400, -1022)
        status, _, body = await client.raw("GET", BALANCE, query=query)
        assert (status, body["code"]) == (400, -1102)
        assert "signature" in body["msg"]


@async_test
async def test_missing_malformed_and_unknown_api_keys() -> None:
    async with running() as (_, client):
        status, _, body = await client.raw("POST", "/fapi/v1/listenKey", key=None)
        assert (status, body["code"]) == (401, -2014)
        status, _, body = await client.raw("POST", "/fapi/v1/listenKey", key="not a key!")
        assert (status, body["code"]) == (401, -2014)
        status, _, body = await client.raw("POST", "/fapi/v1/listenKey", key="A" * 64)
        assert (status, body["code"]) == (401, -2015)
        assert "request ip: 127.0.0.1" in body["msg"]
        status, _, _ = await client.raw("GET", "/fapi/v1/ping", key=None)
        assert status == 200  # NONE security: no key needed


@async_test
async def test_stale_and_future_timestamps_get_1021() -> None:
    clock = ManualClock()
    async with running(CONFIG, clock) as (_, client):
        now = clock.now_ms()
        status, _, body = await client.signed("GET", BALANCE, timestamp=now - 5_001)
        assert (status, body["code"]) == (400, -1021)
        assert "recvWindow" in body["msg"]
        status, _, _ = await client.signed("GET", BALANCE, timestamp=now - 5_000)
        assert status == 200
        status, _, _ = await client.signed("GET", BALANCE, timestamp=now - 9_000, recvWindow=10_000)
        assert status == 200
        status, _, body = await client.signed("GET", BALANCE, timestamp=now + 1_000)
        assert (status, body["code"]) == (400, -1021)
        assert "ahead" in body["msg"]
        status, _, _ = await client.signed("GET", BALANCE, timestamp=now + 999)
        assert status == 200
        status, _, body = await client.signed("GET", BALANCE, recvWindow=60_001)
        assert (status, body["code"]) == (400, -1131)
        status, _, body = await client.signed("GET", BALANCE, timestamp="yesterday")
        assert (status, body["code"]) == (400, -1102)


@async_test
async def test_signed_params_may_travel_in_the_body() -> None:
    async with running() as (_, client):
        status, _, body = await client.signed(
            "POST", "/fapi/v1/leverage", body=True, symbol="BTCUSDT", leverage=7
        )
        assert status == 200, body
        assert body == {"leverage": 7, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"}
