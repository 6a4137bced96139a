"""Status server: the token guards every route, the JSON's shape, the Prometheus exposition, and
a snapshot taken from a paused simulation."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slt.adapters.status.server import StatusServer, StatusToken, announce, resolve_token
from slt.application.reporting import RuntimeStats
from slt.application.status import (
    FeedHealth,
    LoopStats,
    ModelView,
    NotifierView,
    OrderView,
    PositionView,
    ReportView,
    StatusSnapshot,
)

TOKEN = "status-token-0123456789abcdef"
NOW = 1_764_633_600_000 + 5_400_000  # 2025-12-02 01:30 UTC

SNAPSHOT = StatusSnapshot(
    generated_ms=NOW,
    mode="paper",
    breaker_level="WARNING",
    positions=(
        PositionView(1, "BTCUSDT", "LONG", "open", Decimal("0.010"), Decimal("90000.5"),
                     Decimal(89000), Decimal(92000), NOW - 600_000, 90100.0, Decimal("0.9950")),
        PositionView(2, "ETHUSDT", "SHORT", "closing", Decimal("1.5"), Decimal(3000),
                     Decimal(3050), Decimal(2900), NOW - 60_000, None, None),
    ),
    open_orders=(
        OrderView("slt1-s1", 1, "stop", "BTCUSDT", "SELL", "STOP_MARKET", Decimal("0.010"),
                  None, Decimal(89000), "NEW"),
    ),
    feeds=(FeedHealth("BTCUSDT", 1500, False, 90099.9, 90100.1),
           FeedHealth("ETHUSDT", 9000, True, 3001.0, 3001.2),
           FeedHealth("SOLUSDT", None, True, None, None)),
    today_pnl=Decimal("-12.5"),
    today_trades=3,
    equity=Decimal("10012.34"),
    orders_by_status=(("FILLED", 7), ("NEW", 1)),
    loops=(LoopStats("trading", 90, 1, 0, 12.5), LoopStats("virtual", 540, 0, 2, None)),
    model=ModelView("4", NOW - 86_400_000, True, 0.58),
    last_report=ReportView("2025-12-01", 9, Decimal("42.1"), NOW - 5_400_000, "/r/x.html"),
    runtime=RuntimeStats(NOW - 7_200_000, ws_reconnects=2, stale_periods=5, stale_ms=12_000,
                         messages_dropped=3, rest_weight_used=4_200),
    notifiers=(NotifierView("telegram", 0, 12, 1, 2),),
    started_ms=NOW - 7_200_000,
    permissions=("trend: virtual only (mean -0.210 R, 90% bound -0.300 R over 200 in 40 d)",),
)


Call = Callable[[str, dict[str, str] | None], Awaitable[tuple[int, dict[str, str], bytes]]]


def serve(snapshot_source: Callable[[], StatusSnapshot], check: Callable[[str, Call], Any]) -> Any:
    async def go() -> Any:
        server = StatusServer(snapshot_source, StatusToken(TOKEN, False), port=0)
        url = await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                async def call(path: str, headers: dict[str, str] | None = None):
                    async with session.get(url + path, headers=headers) as resp:
                        return resp.status, dict(resp.headers), await resp.read()

                return await check(url, call)
        finally:
            await server.stop()

    return asyncio.run(go())


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_every_route_needs_the_token() -> None:
    async def check(url: str, call: Call) -> None:
        assert url.startswith("http://127.0.0.1:")
        for path in ("/", "/api/status", "/metrics"):
            status, headers, body = await call(path, None)
            assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="slt"'
            assert b"BTCUSDT" not in body
            assert (await call(path, {"Authorization": f"Bearer {TOKEN}x"}))[0] == 401
            assert (await call(path, {"Authorization": f"Basic {TOKEN}"}))[0] == 401
            assert (await call(path, {"Authorization": "Bearer "}))[0] == 401
            assert (await call(path, BEARER))[0] == 200
        # A browser cannot send the header: the page (only) takes the token as a parameter.
        assert (await call(f"/?token={TOKEN}", None))[0] == 200
        assert (await call("/?token=wrong", None))[0] == 401
        assert (await call(f"/api/status?token={TOKEN}", None))[0] == 401
        assert (await call(f"/metrics?token={TOKEN}", None))[0] == 401
        assert (await call("/nowhere", None))[0] == 401
        assert (await call("/nowhere", BEARER))[0] == 404

    serve(lambda: SNAPSHOT, check)


def test_api_status_json_shape() -> None:
    async def check(url: str, call: Call) -> dict[str, Any]:
        status, headers, body = await call("/api/status", BEARER)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        return json.loads(body)

    data = serve(lambda: SNAPSHOT, check)
    assert set(data) == {
        "generated_ms", "mode", "breaker_level", "positions", "open_orders", "feeds",
        "today_pnl", "today_trades", "equity", "orders_by_status", "loops", "model",
        "last_report", "runtime", "notifiers", "started_ms", "entries_halted", "commands",
        "permissions"}
    assert data["breaker_level"] == "WARNING" and data["mode"] == "paper"
    assert data["positions"][0] == {
        "id": 1, "symbol": "BTCUSDT", "side": "LONG", "status": "open", "qty": "0.010",
        "entry_price": "90000.5", "stop": "89000", "take_profit": "92000",
        "opened_ms": NOW - 600_000, "mark": 90100.0, "unrealized_pnl": "0.9950"}
    assert data["positions"][1]["mark"] is None
    assert data["open_orders"][0]["stop_price"] == "89000"
    assert data["feeds"][2] == {"symbol": "SOLUSDT", "age_ms": None, "stale": True,
                                "bid": None, "ask": None}
    assert data["today_pnl"] == "-12.5" and data["equity"] == "10012.34"
    assert data["orders_by_status"] == {"FILLED": 7, "NEW": 1}
    assert data["model"] == {"version": "4", "activated_ms": NOW - 86_400_000,
                             "in_service": True, "validation_hit_rate": 0.58}
    assert data["runtime"]["ws_reconnects"] == 2
    assert data["loops"][1] == {"name": "virtual", "runs": 540, "failures": 0, "skipped": 2,
                                "last_duration_ms": None}


def metrics_of(snapshot: StatusSnapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async def check(url: str, call: Call) -> bytes:
        status, headers, body = await call("/metrics", BEARER)
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return body

    text = serve(lambda: snapshot, check).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_exposition_parses_and_carries_the_snapshot() -> None:
    m = metrics_of(SNAPSHOT)
    assert m[("slt_quote_age_seconds", (("symbol", "BTCUSDT"),))] == 1.5
    assert ("slt_quote_age_seconds", (("symbol", "SOLUSDT"),)) not in m  # no quote yet
    assert m[("slt_feed_stale", (("symbol", "ETHUSDT"),))] == 1.0
    assert m[("slt_feed_stale", (("symbol", "SOLUSDT"),))] == 1.0
    assert m[("slt_breaker_level", ())] == 1.0
    assert m[("slt_breaker_state", (("level", "WARNING"),))] == 1.0
    assert m[("slt_breaker_state", (("level", "NORMAL"),))] == 0.0
    assert m[("slt_orders", (("status", "FILLED"),))] == 7.0
    assert m[("slt_open_positions", ())] == 2.0 and m[("slt_open_orders", ())] == 1.0
    assert m[("slt_ws_reconnects_total", ())] == 2.0
    assert m[("slt_messages_dropped_total", ())] == 3.0
    assert m[("slt_rest_weight_used_total", ())] == 4200.0
    assert m[("slt_feed_stale_seconds_total", ())] == 12.0
    assert m[("slt_loop_runs_total", (("loop", "trading"),))] == 90.0
    assert m[("slt_loop_failures_total", (("loop", "trading"),))] == 1.0
    assert m[("slt_loop_duration_seconds", (("loop", "trading"),))] == 0.0125
    assert ("slt_loop_duration_seconds", (("loop", "virtual"),)) not in m
    assert m[("slt_today_realized_pnl_usdt", ())] == -12.5
    assert m[("slt_model_info", (("in_service", "true"), ("version", "4")))] == 1.0
    assert m[("slt_notifications_dropped_total",
              (("notifier", "telegram"), ("why", "queue_full")))] == 2.0


def test_metrics_leave_out_what_a_simulation_does_not_have() -> None:
    m = metrics_of(StatusSnapshot(generated_ms=NOW, mode="simulate", breaker_level="NORMAL"))
    names = {name for name, _ in m}
    assert "slt_ws_reconnects_total" not in names and "slt_model_info" not in names
    assert m[("slt_breaker_level", ())] == 0.0 and m[("slt_open_positions", ())] == 0.0


def test_a_failing_source_gives_500_without_detail() -> None:
    def broken() -> StatusSnapshot:
        raise RuntimeError("secret detail")

    async def check(url: str, call: Call) -> None:
        for path in ("/", "/api/status"):
            status, _, body = await call(path, BEARER)
            assert status == 500 and b"secret detail" not in body
        assert (await call("/metrics", BEARER))[0] == 500

    serve(broken, check)


def test_page_lists_positions_breaker_and_feeds() -> None:
    async def check(url: str, call: Call) -> str:
        status, headers, body = await call("/", BEARER)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        return body.decode()

    page = serve(lambda: SNAPSHOT, check)
    assert '<span id="breaker-level" class="badge WARNING">WARNING</span>' in page
    assert '<tr data-symbol="BTCUSDT" data-side="LONG">' in page
    assert '<tr data-symbol="ETHUSDT" data-stale="true">' in page
    assert '<span id="model-version">4</span>' in page
    assert "trend: virtual only (mean -0.210 R" in page
    assert "<script" not in page and "http" not in page.replace('http-equiv="refresh"', "")


def test_token_from_env_or_generated_and_announced_once() -> None:
    given = resolve_token({"SLT_STATUS_TOKEN": " chosen-token-0123456789 "})
    assert (given.value, given.generated) == ("chosen-token-0123456789", False)
    made = resolve_token({})
    assert made.generated and len(made.value) >= 32 and made.value != resolve_token({}).value
    assert made.value not in repr(made)
    out = io.StringIO()
    announce("http://127.0.0.1:8765", made, out)
    assert made.value in out.getvalue()
    out = io.StringIO()
    announce("http://127.0.0.1:8765", given, out)
    assert given.value not in out.getvalue()
    with pytest.raises(ValueError, match="at least 16"):
        StatusServer(lambda: SNAPSHOT, "short")


def test_snapshot_of_a_paused_simulation(tmp_path: Path) -> None:
    from browser.simulation import paused_simulation

    paused = paused_simulation(tmp_path)

    async def check(url: str, call: Call) -> dict[str, Any]:
        return json.loads((await call("/api/status", BEARER))[2])

    data = serve(paused.source, check)
    assert data["mode"] == "simulate" and data["breaker_level"] == "WARNING"
    open_symbols = sorted(p["symbol"] for p in data["positions"] if p["status"] == "open")
    assert open_symbols == paused.open_symbols and len(open_symbols) >= 2
    # every open position is protected by a stop order on the exchange
    stops = {o["symbol"] for o in data["open_orders"] if o["purpose"] == "stop"}
    assert stops == set(open_symbols)
    assert [f["symbol"] for f in data["feeds"]] == [
        "BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    assert all(f["age_ms"] is not None and not f["stale"] for f in data["feeds"])
    assert data["orders_by_status"]["NEW"] == len(open_symbols)
    assert {loop["name"] for loop in data["loops"]} >= {"trading", "virtual"}


def test_the_token_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def check(url: str, call: Call) -> None:
        assert (await call(f"/?token={TOKEN}", None))[0] == 200
        assert (await call(f"/?token={TOKEN}x", None))[0] == 401
        assert (await call("/api/status", BEARER))[0] == 200

    serve(lambda: SNAPSHOT, check)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(StatusToken(TOKEN, True))
