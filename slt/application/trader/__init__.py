"""Trader: turns closed bars into candidates, decides which to take (by rule, then by a model
that learned from outcomes), and follows the rest as virtual positions."""

from slt.application.trader.self_learning import SelfLearningTrader
from slt.application.trader.virtual import VirtualBook

__all__ = ["SelfLearningTrader", "VirtualBook"]
