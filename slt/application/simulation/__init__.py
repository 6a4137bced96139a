"""The discrete-event loop of a simulation: quotes replayed through the live code on a stepped
clock. `slt simulate` is slt.entrypoints.simulate."""
