"""Scratch-engine analysis: the rollback preview and the counterfactual refunds (on copies of the core)."""
