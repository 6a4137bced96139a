"""Trader: turns closed bars into candidates and decides which to take.

Until the learner (SelfLearningTrader) lands, `RuleTrader` takes every candidate of the EMA
trend rule that passes the risk gate; the ones it cannot take become virtual positions whose
outcomes are recorded as learning samples.
"""

from slt.trader.rule_trader import RuleTrader
from slt.trader.virtual import VirtualBook

__all__ = ["RuleTrader", "VirtualBook"]
