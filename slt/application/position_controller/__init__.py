"""PositionController: owns every open position and exits it on the rules, on every quote."""

from slt.application.position_controller.controller import (
    EntriesHalted,
    ExitSettings,
    PositionController,
)

__all__ = ["EntriesHalted", "ExitSettings", "PositionController"]
