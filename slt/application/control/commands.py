"""The operator's commands, one service for every way in (the status API, Telegram, SIGHUP).

Semantics (Freqtrade's, where it has them):

- `/status`: mode, whether entries are on, breaker level, open positions, today's P&L;
  `/positions`: each position; `/profit`: closed trades overall and today; `/balance`: the
  exchange's account (the exchange is the truth for money).
- `/stopentry`: no new entries from now on; exits, protective stops and learning go on
  (candidates not taken are followed virtually, as always).
- `/start`: new entries again after `/stopentry` or `/pause`; a halt the bot chose itself (a
  start-up reconciliation mismatch) needs `/start force`, so that a Telegram client sending
  /start as it opens the chat lifts nothing by accident.
- `/pause [MINUTES]`: `/stopentry` with a deadline: entries resume by themselves after MINUTES
  (at most a week), unless something else halted them meanwhile; without MINUTES it lasts
  until `/start`.
- `/forceexit SYMBOL|all`: a market exit of the open positions of SYMBOL (or all), through the
  PositionController's own exit path, which sends nothing for a position whose exit is already
  in flight; a position whose entry is still in flight is named, not exited.
- `/reload_config`: re-reads the configuration files (see slt.application.control.reload).

Every command is logged in the journal and audited in the store (CommandRecord) with its
answer, refusals included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from slt.application.journal import journal
from slt.config import ConfigError
from slt.domain.exits import ExitDecision, ExitReason
from slt.domain.position import Position
from slt.domain.quote_cache import QuoteAge
from slt.domain.values import DAY_MS, Balance
from slt.ports.clock import Clock
from slt.ports.order_gateway import GatewayError
from slt.ports.store import CommandRecord, Store

MAX_ARGS_CHARS = 100
MAX_PAUSE_MINUTES = 7 * 24 * 60
OPERATOR = "operator: "  # how the halts the operator asked for begin
STOPENTRY_REASON = OPERATOR + "/stopentry"
SHUTDOWN_REASON = "shutdown"  # the halt of a stopping bot, which /start must not lift


@dataclass(frozen=True, slots=True)
class CommandResult:
    command: str
    ok: bool  # False: refused or failed; `text` says why
    text: str


class Controlled(Protocol):
    """What the commands use of the PositionController."""

    positions: dict[int, Position]
    halted: str

    def halt_entries(self, reason: str) -> None: ...
    def resume_entries(self) -> str: ...
    def request_exit(self, p: Position, decision: ExitDecision) -> None: ...


@dataclass(frozen=True, slots=True)
class Cockpit:
    """The running bot, as the commands see it."""

    mode: str
    controller: Controlled
    store: Store
    balance: Callable[[], Awaitable[Balance]]
    latest: Callable[[str], QuoteAge | None]
    breaker_level: Callable[[], str]
    reload: Callable[[], str] | None = None  # raises ConfigError; None: not available


def parse(text: str) -> tuple[str, str]:
    """`/forceexit@slt_bot BTCUSDT` -> ("forceexit", "BTCUSDT")."""
    head, _, args = text.strip().partition(" ")
    name = head.lstrip("/").partition("@")[0].lower()
    return name, " ".join(args.split())


def _ts(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


class Commands:
    def __init__(self, clock: Clock, cockpit: Cockpit) -> None:
        self._clock = clock
        self._bot = cockpit
        self._pause: asyncio.Task[None] | None = None

    async def run(self, source: str, user: str, text: str) -> CommandResult:
        """Run one command line (`/name args` or `name args`), audit and log it."""
        name, args = parse(text)
        if len(args) > MAX_ARGS_CHARS:
            result = CommandResult(name, False, f"arguments longer than {MAX_ARGS_CHARS} chars")
        elif name not in _HANDLERS:
            result = CommandResult(name[:40], False, f"unknown command /{name[:40]}; try /help")
        else:
            ok, answer = await _HANDLERS[name][0](self, args)
            result = CommandResult(name, ok, answer)
        name, args = name[:40], args[:MAX_ARGS_CHARS]  # what is kept of a flood
        self._bot.store.add_command(
            CommandRecord(self._clock.now_ms(), source, user, name, args, result.ok, result.text)
        )
        line = f"/{name} {args}".rstrip()
        journal.info("command %s from %s %s: %s", line, source, user, result.text)
        return result

    async def close(self) -> None:
        """Cancel a pending `/pause` deadline (the bot stops)."""
        self._cancel_pause()

    # -- queries ---------------------------------------------------------------------------

    async def _help(self, args: str) -> tuple[bool, str]:
        return True, "\n".join(f"/{name}{usage}" for name, (_, usage) in _HANDLERS.items())

    async def _status(self, args: str) -> tuple[bool, str]:
        bot = self._bot
        now = self._clock.now_ms()
        today = [t for t in bot.store.trades() if t.close_ms >= now - now % DAY_MS]
        pnl = sum((t.pnl for t in today), Decimal(0))
        halted = bot.controller.halted
        entries = f"entries halted ({halted})" if halted else "entries on"
        return True, (
            f"{bot.mode} | {entries} | breaker {bot.breaker_level()} | "
            f"{len(bot.controller.positions)} open position(s) | today {pnl:+.2f} USDT "
            f"({len(today)} trades)"
        )

    async def _positions(self, args: str) -> tuple[bool, str]:
        held = sorted(self._bot.controller.positions.values(), key=lambda p: p.id)
        if not held:
            return True, "No open positions."
        return True, "\n".join(self._describe(p) for p in held)

    def _describe(self, p: Position) -> str:
        age = self._bot.latest(p.symbol)
        unrealised = ""
        if age is not None and p.qty:
            mark = Decimal(repr(age.quote.mid))
            unrealised = f", unrealised {(mark - p.entry_price) * p.qty * p.direction.sign:+.2f}"
        return (
            f"#{p.id} {p.symbol} {p.direction.value} {p.qty} @ {p.entry_price} ({p.status}),"
            f" stop {p.stop}, target {p.take_profit}{unrealised}"
        )

    async def _profit(self, args: str) -> tuple[bool, str]:
        trades = self._bot.store.trades()
        if not trades:
            return True, "No closed trades yet."
        now = self._clock.now_ms()
        today = [t for t in trades if t.close_ms >= now - now % DAY_MS]
        wins = sum(1 for t in trades if t.pnl > 0)
        net = sum((t.pnl for t in trades), Decimal(0))
        fees = sum((t.fees for t in trades), Decimal(0))
        today_net = sum((t.pnl for t in today), Decimal(0))
        return True, (
            f"{len(trades)} closed trades, win rate {wins / len(trades):.0%}, net {net:+.2f} USDT"
            f" (fees {fees:.2f}); today {len(today)} trades, {today_net:+.2f} USDT"
        )

    async def _balance(self, args: str) -> tuple[bool, str]:
        try:
            b = await self._bot.balance()
        except GatewayError as exc:
            return False, f"the exchange did not answer: {exc}"
        return True, (
            f"equity {b.equity:.2f} USDT, wallet {b.wallet:.2f}, available {b.available:.2f},"
            f" unrealised {b.unrealized_pnl:+.2f}"
        )

    # -- entries ---------------------------------------------------------------------------

    async def _stopentry(self, args: str) -> tuple[bool, str]:
        return self._halt(STOPENTRY_REASON)

    def _halt(self, reason: str) -> tuple[bool, str]:
        controller = self._bot.controller
        if controller.halted:
            return True, f"new entries were already halted ({controller.halted})"
        controller.halt_entries(reason)
        return True, "new entries stopped; open positions keep their exits and stops"

    async def _start(self, args: str) -> tuple[bool, str]:
        halted = self._bot.controller.halted
        if halted == SHUTDOWN_REASON:
            return False, "the bot is shutting down: entries stay halted"
        if halted and not halted.startswith(OPERATOR) and args.lower() != "force":
            # A halt the bot chose (a start-up mismatch) is lifted only on purpose; a plain
            # /start may be nothing more than a Telegram client opening the chat.
            return False, (
                f"entries were halted by the bot ({halted}); look into it, then send /start force"
            )
        self._cancel_pause()
        was = self._bot.controller.resume_entries()
        if not was:
            return True, "new entries were already on"
        return True, f"new entries resumed (they were halted: {was})"

    async def _pause(self, args: str) -> tuple[bool, str]:
        if not args:
            return self._halt(OPERATOR + "/pause")
        if not args.isdigit() or not 1 <= int(args) <= MAX_PAUSE_MINUTES:
            return False, f"/pause takes minutes from 1 to {MAX_PAUSE_MINUTES}, not {args!r}"
        until = self._clock.now_ms() + int(args) * 60_000
        reason = f"{OPERATOR}/pause until {_ts(until)}"
        ok, text = self._halt(reason)
        if self._bot.controller.halted != reason:
            return ok, text  # halted for another reason: that one decides when entries resume
        self._cancel_pause()
        self._pause = self._clock.spawn(self._resume_at(until, reason), name="pause")
        return True, f"new entries paused until {_ts(until)}; /start resumes them earlier"

    async def _resume_at(self, until_ms: int, reason: str) -> None:
        await self._clock.sleep_until(until_ms)
        self._pause = None
        if self._bot.controller.halted == reason:
            await self.run("timer", "pause", "/start")

    def _cancel_pause(self) -> None:
        task, self._pause = self._pause, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- exits and configuration -----------------------------------------------------------

    async def _forceexit(self, args: str) -> tuple[bool, str]:
        wanted = args.upper()
        if not wanted or " " in wanted:
            return False, "usage: /forceexit SYMBOL, or /forceexit all"
        held = sorted(self._bot.controller.positions.values(), key=lambda p: p.id)
        chosen = [p for p in held if wanted == "ALL" or p.symbol == wanted]
        if not chosen:
            return False, f"no open position in {wanted}" if wanted != "ALL" else "no position"
        lines = [self._exit(p) for p in chosen]
        return any(line.startswith("exit sent") for line in lines), "\n".join(lines)

    def _exit(self, p: Position) -> str:
        name = f"{p.symbol} #{p.id}"
        if p.status != "open":
            if p.status in ("pending_open", "entry_in_flight"):
                return f"{name}: its entry is still in flight; try again once it has filled"
            return f"{name}: its exit is already in flight ({p.status})"
        age = self._bot.latest(p.symbol)
        price = age.quote.mid if age is not None else float(p.entry_price)
        self._bot.controller.request_exit(p, ExitDecision(ExitReason.FORCE_EXIT, price))
        return f"exit sent for {name} ({p.status})"

    async def _reload_config(self, args: str) -> tuple[bool, str]:
        if self._bot.reload is None:
            return False, "this session cannot reload its configuration"
        try:
            return True, self._bot.reload()
        except (ConfigError, ValueError) as exc:
            return False, f"configuration NOT reloaded, the running one stays: {exc}"


Handler = Callable[[Commands, str], Awaitable[tuple[bool, str]]]
# name -> (handler, usage for /help)
_HANDLERS: Mapping[str, tuple[Handler, str]] = {
    "status": (Commands._status, ": mode, entries, breaker, open positions, today's P&L"),
    "positions": (Commands._positions, ": the open positions"),
    "profit": (Commands._profit, ": closed trades overall and today"),
    "balance": (Commands._balance, ": the exchange account"),
    "stopentry": (Commands._stopentry, ": no new entries (exits go on)"),
    "start": (Commands._start, " [force]: new entries again (force: after a halt of the bot's)"),
    "pause": (Commands._pause, " [MINUTES]: no new entries, for MINUTES or until /start"),
    "forceexit": (Commands._forceexit, " SYMBOL|all: market exit of the open positions"),
    "reload_config": (Commands._reload_config, ": read the configuration files again"),
    "help": (Commands._help, ": this list"),
}
COMMANDS = tuple(_HANDLERS)
