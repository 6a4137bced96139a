"""The simulator: replays market data through the live code on a simulated clock."""
