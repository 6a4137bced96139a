"""The emulator's wire shapes against recorded Binance payloads (tests/fixtures/binance).

For each pair: every key of the recording is in the emulator's payload with the same JSON
type, nested objects and list items included; keys the recording lacks must be known extras.
Recording-only keys are listed per case with the reason they are absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from emu_helpers import BTC, async_test, barrier, quote, running

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"


def load(name: str) -> Any:
    payload = orjson.loads((FIXTURES / name).read_bytes())
    return payload["data"] if isinstance(payload, dict) and "data" in payload else payload


def load_lines(name: str) -> list[Any]:
    return [orjson.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line]


def json_type(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
    }[type(value)]


def shape_errors(
    ours: Any,
    recorded: Any,
    *,
    extras: frozenset[str] = frozenset(),
    absent: frozenset[str] = frozenset(),
    where: str = "$",
) -> list[str]:
    if json_type(ours) != json_type(recorded):
        return [f"{where}: {json_type(ours)} where Binance sends {json_type(recorded)}"]
    if isinstance(recorded, list):
        if not recorded or not ours:
            return []
        return shape_errors(ours[0], recorded[0], extras=extras, absent=absent, where=where + "[0]")
    if not isinstance(recorded, dict):
        return []
    out = [f"{where}.{k}: missing" for k in recorded if k not in ours and k not in absent]
    out += [
        f"{where}.{k}: not in the recording" for k in ours if k not in recorded and k not in extras
    ]
    for key in [k for k in recorded if k in ours]:
        out += shape_errors(
            ours[key], recorded[key], extras=extras, absent=absent, where=f"{where}.{key}"
        )
    return out


# Recording-only keys: trailing-stop fields (the emulator has no trailing stops), fields of
# Portfolio-Margin accounts, and the exchangeInfo parts of other contract types.
TRAILING = frozenset({"activatePrice", "priceRate", "AP", "cr"})


async def captured() -> dict[str, Any]:
    """One of each payload the emulator sends, from a short scripted session."""
    out: dict[str, Any] = {}
    async with running() as (emu, client):
        streams = "btcusdt@bookTicker/btcusdt@markPrice@1s/btcusdt@markPrice"
        public = await client.session.ws_connect(f"{emu.ws_url}/public/ws/btcusdt@bookTicker")
        market = await client.session.ws_connect(f"{emu.ws_url}/market/stream?streams={streams}")
        key = await client.listen_key()
        user = await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey={key}")
        emu.push_quote(quote(50_000.0, 50_000.1))
        (out["bookTicker"],) = await barrier(public)
        out["markPriceUpdate"] = (await barrier(market))[0]["data"]
        await client.ok(
            "POST",
            "/fapi/v1/order",
            symbol=BTC,
            side="BUY",
            type="MARKET",
            quantity="0.010",
            newClientOrderId="shape",
        )
        out["order_new"], out["order_trade"], out["ACCOUNT_UPDATE"] = await barrier(user)
        # The recording is a list of orders (allOrders); GET /fapi/v1/order returns one.
        out["order"] = [
            await client.ok("GET", "/fapi/v1/order", symbol=BTC, origClientOrderId="shape")
        ]
        for name, path, params in (
            ("depth", "/fapi/v1/depth", {"symbol": BTC, "limit": 5}),
            ("exchangeInfo", "/fapi/v1/exchangeInfo", {}),
            ("bookTickerRest", "/fapi/v1/ticker/bookTicker", {"symbol": BTC}),
            ("ticker24hr", "/fapi/v1/ticker/24hr", {"symbol": BTC}),
            ("klines", "/fapi/v1/klines", {"symbol": BTC, "interval": "1m"}),
        ):
            out[name] = (await client.public(path, **params))[2]
        for name, path in (
            ("positionRisk", "/fapi/v2/positionRisk"),
            ("balance", "/fapi/v2/balance"),
            ("account", "/fapi/v2/account"),
            ("dual", "/fapi/v1/positionSide/dual"),
        ):
            out[name] = await client.ok("GET", path)
    return out


CASES: list[tuple[str, str, frozenset[str], frozenset[str]]] = [
    # (emulator payload, recording, extras the emulator may add, recording-only keys)
    ("bookTicker", "ws/bookTicker__docs-example.json", frozenset(), frozenset()),
    (
        "bookTicker",
        "ws/bookTicker__BTCUSDT__2021-02-01__tardis.json",
        frozenset({"st", "ps"}),
        frozenset(),
    ),
    ("markPriceUpdate", "ws/markPriceUpdate__docs-example.json", frozenset({"ap"}), frozenset()),
    (
        "markPriceUpdate",
        "ws/markPriceUpdate__BTCUSDT__2020-08-16__tardis.json",
        frozenset({"ap", "P", "st"}),
        frozenset(),
    ),
    (
        "order_new",
        "ws/ORDER_TRADE_UPDATE__docs-example__NEW_TRAILING_STOP.json",
        frozenset({"pm", "gtd", "er"}),
        TRAILING,
    ),
    ("ACCOUNT_UPDATE", "ws/ACCOUNT_UPDATE__docs-example.json", frozenset(), frozenset()),
    (
        "order",
        "rest/allOrders__docs-example__TRAILING_STOP_MARKET.json",
        frozenset({"cumQty", "priceMatch", "selfTradePreventionMode", "goodTillDate"}),
        TRAILING,
    ),
    ("depth", "rest/depth__BTCUSDT__2024-07-18__hftbacktest__top5.json", frozenset(), frozenset()),
    (
        "bookTickerRest",
        "rest/ticker_bookTicker__docs-example.json",
        frozenset({"lastUpdateId"}),
        frozenset(),
    ),
    ("ticker24hr", "rest/ticker_24hr__docs-example.json", frozenset(), frozenset()),
    ("klines", "rest/klines__docs-example.json", frozenset(), frozenset()),
    (
        "positionRisk",
        "rest/positionRisk__docs-example__one-way.json",
        frozenset({"breakEvenPrice", "notional", "isolatedWallet"}),
        frozenset(),
    ),
    ("balance", "rest/balance__docs-example.json", frozenset(), frozenset()),
    ("account", "rest/account_v2__docs-derived.json", frozenset(), frozenset()),
    ("dual", "rest/positionSide_dual__docs-example.json", frozenset(), frozenset()),
    (
        "exchangeInfo",
        "rest/exchangeInfo__2021-07-21__cryptofeed__BTCUSDT-only.json",
        frozenset(),
        frozenset(),
    ),
]


@pytest.fixture(scope="module")
def payloads() -> dict[str, Any]:
    box: dict[str, Any] = {}

    @async_test
    async def capture() -> None:
        box.update(await captured())

    capture()
    return box


@pytest.mark.parametrize(
    ("ours", "recording", "extras", "absent"), CASES, ids=[c[1] for c in CASES]
)
def test_payload_has_the_recorded_keys_and_types(
    payloads: dict[str, Any],
    ours: str,
    recording: str,
    extras: frozenset[str],
    absent: frozenset[str],
) -> None:
    assert shape_errors(payloads[ours], load(recording), extras=extras, absent=absent) == []


@pytest.mark.parametrize("line", [0, 1], ids=["NEW", "TRADE"])
def test_order_updates_match_a_live_portfolio_margin_capture(
    payloads: dict[str, Any], line: int
) -> None:
    recorded = load_lines("ws/ORDER_TRADE_UPDATE__portfolio-margin-UM__NEW_then_TRADE.jsonl")[line]
    ours = payloads["order_new" if line == 0 else "order_trade"]
    # The capture comes from a Portfolio-Margin account: it adds `fs` and lacks fields the
    # USDT-M futures stream carries (wt ot cp pP si ss, and er from 2025-10).
    extras = frozenset({"wt", "ot", "cp", "pP", "si", "ss", "er"})
    assert shape_errors(ours, recorded, extras=extras, absent=frozenset({"fs"})) == []
    assert ours["o"]["x"] == recorded["o"]["x"] and ours["o"]["X"] == recorded["o"]["X"]


def test_the_shape_check_itself_catches_differences() -> None:
    recorded = {"a": "1", "b": {"c": 1}, "d": [["x"]]}
    assert shape_errors({"a": "1", "b": {"c": 1}, "d": [["y"]]}, recorded) == []
    assert shape_errors({"a": 1, "b": {"c": "1"}, "d": [[1]], "z": 0}, recorded) == [
        "$.z: not in the recording",
        "$.a: integer where Binance sends string",
        "$.b.c: string where Binance sends integer",
        "$.d[0][0]: integer where Binance sends string",
    ]
    assert shape_errors({"b": {}}, recorded) == ["$.a: missing", "$.d: missing", "$.b.c: missing"]


# [D:trade/rest-api/Query-Algo-Order], without the TP/SL-pair fields of other algo types.
ALGO_KEYS = [
    "algoId",
    "clientAlgoId",
    "algoType",
    "orderType",
    "symbol",
    "side",
    "positionSide",
    "timeInForce",
    "quantity",
    "algoStatus",
    "actualOrderId",
    "actualPrice",
    "triggerPrice",
    "price",
    "icebergQuantity",
    "selfTradePreventionMode",
    "workingType",
    "priceMatch",
    "closePosition",
    "priceProtect",
    "reduceOnly",
    "createTime",
    "updateTime",
    "triggerTime",
    "goodTillDate",
]
# [D:user-data-streams/Event-Algo-Order-Update]
ALGO_UPDATE_KEYS = [
    "caid",
    "aid",
    "at",
    "o",
    "s",
    "S",
    "ps",
    "f",
    "q",
    "X",
    "ai",
    "ap",
    "aq",
    "act",
    "tp",
    "p",
    "V",
    "wt",
    "pm",
    "cp",
    "pP",
    "R",
    "tt",
    "gtd",
    "rm",
]


@async_test
async def test_algo_payloads_have_the_documented_fields() -> None:
    async with running() as (emu, client):
        emu.push_quote(quote(50_000.0, 50_000.1))
        key = await client.listen_key()
        user = await client.session.ws_connect(f"{emu.ws_url}/private/ws?listenKey={key}")
        algo = await client.ok(
            "POST",
            "/fapi/v1/algoOrder",
            algoType="CONDITIONAL",
            symbol=BTC,
            side="BUY",
            type="STOP_MARKET",
            triggerPrice="51000",
            quantity="0.001",
        )
        assert list(algo) == ALGO_KEYS
        (event,) = await barrier(user)
        assert list(event) == ["e", "T", "E", "o"] and list(event["o"]) == ALGO_UPDATE_KEYS
        assert isinstance(event["o"]["aid"], int) and isinstance(event["o"]["tp"], str)
