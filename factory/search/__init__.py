"""Optuna search over a model's fields (`search:` on a model): space, study, pruning, outputs, confirmation."""
