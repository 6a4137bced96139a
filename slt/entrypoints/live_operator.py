"""What the operator of a live session sees and commands, set up and torn down in one place:

- the journal (trades, protective stops, commands, start and shutdown at INFO, shown without
  `-v`) and the rotating log file `slt.log` in the state directory;
- the same events as notifications, with start and stop notices, and the queue flushed (for
  at most `live.notify_flush_s`) at shutdown;
- the Commands service (slt.application.control) for the status API and Telegram, SIGHUP reloading
the
  configuration (what `/reload_config` does) instead of ending the bot.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from slt.adapters.notify.env import telegram_control_from_env
from slt.adapters.notify.telegram_control import TelegramControl
from slt.application.control import Cockpit, Commands, ConfigReloader
from slt.application.journal import LogFile, journal
from slt.application.notify import (
    BotStarted,
    BotStopping,
    Notice,
    Notifications,
    ProtectiveStopFailed,
    ProtectiveStopPlaced,
    TradeClosed,
    TradeOpened,
)
from slt.config import Settings
from slt.container import Container, runtime_settings_applier
from slt.domain.position import Position

log = logging.getLogger(__name__)

LOG_FILE = "slt.log"


class OperatorSession:
    def __init__(
        self,
        container: Container,
        notifications: Notifications,
        reload_settings: Callable[[], Settings] | None,
    ) -> None:
        settings: Settings = container.settings()
        live = settings.live
        self._mode = settings.mode
        self._flush_s = live.notify_flush_s
        self._notifications = notifications
        self._clock = container.clock()
        self._controller = container.controller()
        self._log_file = LogFile(Path(live.state_dir) / LOG_FILE, live.log_max_bytes,
                                 live.log_backups)
        self._log_file.open()
        reloader = (
            None
            if reload_settings is None
            else ConfigReloader(reload_settings, settings, runtime_settings_applier(container))
        )
        breaker = container.breaker()
        self.commands = Commands(
            self._clock,
            Cockpit(
                mode=settings.mode,
                controller=self._controller,
                store=container.store(),
                balance=container.gateway().balance,
                latest=container.feed().latest,
                breaker_level=lambda: str(breaker.level),
                reload=reloader,
            ),
        )
        self._telegram: TelegramControl | None = None
        self._polling: asyncio.Task[None] | None = None
        if live.telegram_commands:
            self._telegram = telegram_control_from_env(
                self.commands.run, self._clock, telegram_api=live.telegram_api
            )
        self._hup = False
        self._watch_positions()

    def tell(self, notice: Notice, level: int = logging.INFO) -> None:
        """Into the journal and to the notifiers."""
        journal.log(level, "%s", notice.text())
        self._notifications.publish(notice)

    def _watch_positions(self) -> None:
        c = self._controller
        c.add_opened_listener(lambda p: self.tell(TradeOpened.from_position(p)))
        c.add_closed_listener(lambda p: self.tell(TradeClosed.from_position(p)))
        c.add_protection_listener(self._protection)

    def _protection(self, p: Position, placed: bool, detail: str) -> None:
        if placed:
            self.tell(ProtectiveStopPlaced(p.id, p.symbol, p.stop))
        else:
            self.tell(ProtectiveStopFailed(p.id, p.symbol, p.stop, detail), logging.WARNING)

    def started(self, symbols: list[str]) -> None:
        """The session trades: announce it, take SIGHUP and Telegram commands."""
        self.tell(BotStarted(self._mode, tuple(symbols), self._controller.halted))
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_hup)
            self._hup = True
        except (ValueError, RuntimeError):  # not the main thread: no signals here
            log.debug("SIGHUP not handled: the session runs outside the main thread")
        if self._telegram is not None:
            self._polling = self._clock.spawn(self._telegram.run_forever(), name="telegram")

    def _on_hup(self) -> None:
        self._clock.spawn(self.commands.run("signal", "SIGHUP", "/reload_config"), name="hup")

    async def close(self) -> None:
        """Shutdown: tell it, stop taking commands, flush the notifications (bounded)."""
        self.tell(BotStopping(self._mode, len(self._controller.positions)))
        if self._hup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._hup = False
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
        if self._telegram is not None:
            await self._telegram.close()
        await self.commands.close()
        await self._notifications.close(self._flush_s)
        journal.info("slt stopped (%s)", self._mode)
        self._log_file.close()
