"""The operator's commands against a real PositionController on the FakeExchange and a
simulated clock: end states (positions, orders, audit rows), not calls."""

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from browser.simulation import paused_simulation
from test_position_controller import Rig

from slt.application.control import (
    COMMANDS,
    SHUTDOWN_REASON,
    Cockpit,
    Commands,
    ConfigReloader,
    parse,
)
from slt.application.position_controller import EntriesHalted, ExitSettings
from slt.config import load_settings
from slt.container import build_container, runtime_settings_applier
from slt.data import bundled_filters
from slt.domain.position import Position
from slt.domain.sizing import Sizing
from slt.domain.strategy import Candidate
from slt.domain.values import Direction

from factories import quote

START_MS = 1_764_547_200_000


def commands_for(rig: Rig, reload=None) -> Commands:  # type: ignore[no-untyped-def]
    return Commands(
        rig.clock,
        Cockpit(
            mode="paper",
            controller=rig.controller,
            store=rig.store,
            balance=rig.exchange.balance,
            latest=lambda s: None,
            breaker_level=lambda: "NORMAL",
            reload=reload,
        ),
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_parse_takes_telegram_bot_suffixes_and_spaces() -> None:
    assert parse("/forceexit@slt_bot  btcusdt ") == ("forceexit", "btcusdt")
    assert parse("STATUS") == ("status", "")


def test_stopentry_refuses_entries_keeps_exits_and_start_resumes_them() -> None:
    async def main() -> None:
        rig = Rig(ExitSettings(max_hold_ms=0, exchange_stop=False))
        commands = commands_for(rig)
        p = await rig.open()
        result = await commands.run("http", "token@127.0.0.1", "/stopentry")
        assert result.ok and "stopped" in result.text
        with pytest.raises(EntriesHalted):
            await rig.open()
        await rig.tick(10_300.0, 10_300.1)  # the take-profit still fires
        assert p.status == "closed" and p.exit_reason == "take_profit"
        again = await commands.run("telegram", "chat 7", "/stopentry")
        assert again.ok and "already halted (operator: /stopentry)" in again.text
        resumed = await commands.run("telegram", "chat 7", "/start")
        assert resumed.ok and "resumed" in resumed.text
        assert (await rig.open()).status == "open"
        audit = rig.store.commands()
        assert [(c.source, c.user, c.command, c.ok) for c in audit] == [
            ("telegram", "chat 7", "start", True),
            ("telegram", "chat 7", "stopentry", True),
            ("http", "token@127.0.0.1", "stopentry", True),
        ]
        assert audit[-1].result == result.text and audit[-1].ts_ms > 0

    run(main())


def test_forceexit_sends_one_market_exit_through_the_controller() -> None:
    async def main() -> None:
        rig = Rig()
        commands = commands_for(rig)
        p = await rig.open()
        first = await commands.run("http", "token", "/forceexit btcusdt")
        # The exit is in flight until the clock lets it run: a second request sends nothing.
        second = await commands.run("http", "token", "/forceexit all")
        assert first.ok and first.text.startswith(f"exit sent for BTCUSDT #{p.id}")
        assert not second.ok and "already in flight" in second.text
        await rig.clock.settle()
        assert p.status == "closed" and p.exit_reason == "force_exit"
        exits = [o for o in rig.store.orders(p.id) if o["purpose"] == "exit"]
        assert len(exits) == 1 and exits[0]["reduce_only"]
        assert await rig.exchange.positions() == []
        nothing = await commands.run("http", "token", "/forceexit ETHUSDT")
        usage = await commands.run("http", "token", "/forceexit")
        assert not nothing.ok and "no open position in ETHUSDT" in nothing.text
        assert not usage.ok and "usage" in usage.text

    run(main())


def test_pause_resumes_entries_by_itself_at_its_deadline() -> None:
    async def main() -> None:
        rig = Rig()
        commands = commands_for(rig)
        start = rig.clock.now_ms()
        paused = await commands.run("telegram", "chat 7", "/pause 30")
        assert paused.ok and "paused until" in paused.text
        assert rig.controller.halted.startswith("operator: /pause until")
        rig.clock.advance(start + 29 * 60_000)
        await rig.clock.settle()
        assert rig.controller.halted
        assert rig.clock.fire_due() == start + 30 * 60_000
        await rig.clock.settle()
        assert rig.controller.halted == ""
        assert [(c.source, c.command) for c in rig.store.commands(2)] == [
            ("timer", "start"), ("telegram", "pause")]
        for bad in ("/pause 0", "/pause soon", "/pause 100000"):
            refused = await commands.run("telegram", "chat 7", bad)
            assert not refused.ok and "minutes" in refused.text
        assert rig.controller.halted == ""

    run(main())


def test_a_halt_of_the_bots_own_needs_start_force() -> None:
    async def main() -> None:
        rig = Rig()
        commands = commands_for(rig)
        rig.controller.halt_entries("start-up reconciliation found unknown_position")
        plain = await commands.run("telegram", "chat 7", "/start")
        assert not plain.ok and "send /start force" in plain.text
        assert rig.controller.halted.startswith("start-up reconciliation")
        forced = await commands.run("telegram", "chat 7", "/start force")
        assert forced.ok and "unknown_position" in forced.text and rig.controller.halted == ""

    run(main())


def test_start_does_not_lift_the_halt_of_a_stopping_bot() -> None:
    async def main() -> None:
        rig = Rig()
        rig.controller.halt_entries(SHUTDOWN_REASON)
        refused = await commands_for(rig).run("telegram", "chat 7", "/start force")
        assert not refused.ok and rig.controller.halted == SHUTDOWN_REASON

    run(main())


def test_a_pause_deadline_does_not_lift_a_later_halt_or_an_earlier_start() -> None:
    async def main() -> None:
        rig = Rig()
        commands = commands_for(rig)
        await commands.run("http", "token", "/pause 10")
        await commands.run("http", "token", "/start")
        rig.controller.halt_entries("start-up reconciliation found unknown_position")
        rig.clock.fire_due()
        await rig.clock.settle()
        assert rig.controller.halted == "start-up reconciliation found unknown_position"

    run(main())


def test_queries_answer_with_figures_and_unknown_commands_are_refused() -> None:
    async def main() -> None:
        rig = Rig()
        commands = commands_for(rig)
        assert (await commands.run("http", "t", "/positions")).text == "No open positions."
        assert (await commands.run("http", "t", "/profit")).text == "No closed trades yet."
        p = await rig.open()
        positions = await commands.run("http", "t", "/positions")
        assert f"#{p.id} BTCUSDT LONG 0.5 @ 10000.1 (open)" in positions.text
        status = await commands.run("http", "t", "/status")
        assert status.text.startswith("paper | entries on | breaker NORMAL | 1 open position")
        balance = await commands.run("http", "t", "/balance")
        assert balance.ok and balance.text.startswith("equity ")
        await rig.tick(10_300.0, 10_300.1)
        profit = await commands.run("http", "t", "/profit")
        assert profit.text.startswith("1 closed trades, win rate 100%, net +")
        unknown = await commands.run("http", "t", "/moon BTC")
        assert not unknown.ok and "/help" in unknown.text
        assert rig.store.commands(1)[0].command == "moon"
        flood = await commands.run("telegram", "chat 7", "/" + "x" * 500 + " " + "y" * 5000)
        assert not flood.ok and "longer than 100" in flood.text
        kept = rig.store.commands(1)[0]
        assert (len(kept.command), len(kept.args)) == (40, 100)
        listed = (await commands.run("http", "t", "/help")).text.splitlines()
        assert [line.split(":")[0].split()[0] for line in listed] == [f"/{c}" for c in COMMANDS]
        no_reload = await commands.run("http", "t", "/reload_config")
        assert not no_reload.ok

    run(main())


def reloadable(tmp_path: Path, toml: str):  # type: ignore[no-untyped-def]
    """A simulation container and a reloader over its config file, as `slt live` has them."""
    config = tmp_path / "slt.toml"
    config.write_text(toml)
    settings = load_settings(config)
    container = build_container(settings, bundled_filters(), START_MS, tmp_path)
    reloader = ConfigReloader(
        lambda: load_settings(config), settings, runtime_settings_applier(container)
    )
    return config, container, reloader


async def open_long(container) -> Position:  # type: ignore[no-untyped-def]
    container.exchange().on_quote(quote(90_000.0, 90_000.1, START_MS, "BTCUSDT"))
    return await container.controller().open_position(
        Candidate("BTCUSDT", Direction.LONG, START_MS, 90_000.0, 500.0, 2.0, 0.0),
        Sizing(Decimal("0.01"), Decimal(900), 3, Decimal(5)),
        Decimal("90000.1"),
    )


def test_reload_applies_risk_exits_and_strategy_and_names_what_needs_a_restart(
    tmp_path: Path,
) -> None:
    config, container, reloader = reloadable(tmp_path, "[risk]\nmax_leverage = 5\n")
    assert reloader() == "configuration reloaded: nothing changed"
    config.write_text(
        "[risk]\nmax_leverage = 3\n[exits]\nmax_hold_minutes = 90\n"
        "[strategy]\nreward_risk = 3.0\nfast = 10\n[live]\nuniverse_size = 3\n"
    )
    assert reloader() == (
        "configuration reloaded: applied exits.max_hold_minutes, risk.max_leverage,"
        " strategy.reward_risk; needs a restart (running value kept): live.universe_size,"
        " strategy.fast"
    )
    running = container.settings()
    assert running.risk.max_leverage == 3 and running.strategy.reward_risk == 3.0
    assert running.strategy.fast == 20 and running.live.universe_size == 10
    assert asyncio.run(open_long(container)).max_hold_ms == 90 * 60_000


def test_a_bad_reloaded_config_is_refused_naming_the_key_and_the_old_one_stays(
    tmp_path: Path,
) -> None:
    config, container, reloader = reloadable(tmp_path, "[exits]\nmax_hold_minutes = 60\n")
    rig = Rig()
    commands = commands_for(rig, reload=reloader)

    async def reload() -> str:
        result = await commands.run("signal", "SIGHUP", "reload_config")
        assert not result.ok
        return result.text

    config.write_text("[risk]\nmax_leverage = 500\n")
    assert asyncio.run(reload()).startswith(
        "configuration NOT reloaded, the running one stays: risk.max_leverage")
    config.write_text("[exits]\nmax_hold_minutes = -1\n[risk]\nmax_leverage = 2\n")
    assert "exits.max_hold_minutes must not be negative" in asyncio.run(reload())
    assert container.settings().risk.max_leverage == 5  # nothing of it was applied
    assert asyncio.run(open_long(container)).max_hold_ms == 60 * 60_000
    assert rig.store.commands(1)[0].source == "signal"


def test_after_stopentry_a_simulation_opens_nothing_but_keeps_learning(tmp_path: Path) -> None:
    at: dict[str, int] = {}

    async def stop_entries(container) -> None:  # type: ignore[no-untyped-def]
        trader = container.trader()
        at.update(ms=container.clock().now_ms(), candidates=trader.candidates,
                  entries=trader.entries, virtual=container.virtual().opened)
        commands = Commands(container.clock(), Cockpit(
            mode="simulate", controller=container.controller(), store=container.store(),
            balance=container.gateway().balance, latest=container.feed().latest,
            breaker_level=lambda: "NORMAL"))
        assert (await commands.run("http", "token", "/stopentry")).ok

    paused = paused_simulation(tmp_path, open_positions=1, then=stop_entries)
    container = paused.container
    trader, store = container.trader(), container.store()
    assert trader.entries == at["entries"] and at["entries"] >= 1
    assert trader.candidates > at["candidates"]  # candidates still come...
    assert container.virtual().opened > at["virtual"]  # ...and are followed virtually
    opened = [t.open_ms for t in store.trades()]
    opened += [p.created_ms for p in container.controller().positions.values()]
    assert opened and max(opened) <= at["ms"]
    assert any(t.close_ms > at["ms"] for t in store.trades())  # exits went on
