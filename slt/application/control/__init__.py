"""Runtime control of a running bot: the operator's commands (one service that the status
API, Telegram and SIGHUP all call) and configuration reloading."""

from slt.application.control.commands import (
    COMMANDS,
    SHUTDOWN_REASON,
    Cockpit,
    CommandResult,
    Commands,
    parse,
)
from slt.application.control.reload import ConfigReloader

__all__ = [
    "COMMANDS",
    "SHUTDOWN_REASON",
    "Cockpit",
    "CommandResult",
    "Commands",
    "ConfigReloader",
    "parse",
]
