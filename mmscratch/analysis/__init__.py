"""Analyses of training runs: convergence curves, comparisons, data budgets."""
from .curves import plot_runs, read_curve, run_label

__all__ = ['plot_runs', 'read_curve', 'run_label']
