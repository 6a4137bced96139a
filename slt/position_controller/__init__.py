"""PositionController: owns every open position and exits it on the rules, on every quote."""

from slt.position_controller.controller import ExitSettings, PositionController

__all__ = ["ExitSettings", "PositionController"]
