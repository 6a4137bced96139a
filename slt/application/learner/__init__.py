"""The learner: features recorded at decision time, outcome labels, the model, its training
with walk-forward validation, and the registry of model versions."""
