"""Analyses of training runs: convergence curves (Figure 1), scratch vs
pretrained tables (:mod:`.compare`), data seen (Figure 3, :mod:`.data_budget`),
the paper's numbers (:mod:`.paper_reference`), small-data regimes and sweeps
(:mod:`.small_data`, :mod:`.sweep`)."""
from .curves import CurvePlot, plot_curves, plot_runs, read_curve, run_label

__all__ = ['CurvePlot', 'plot_curves', 'plot_runs', 'read_curve', 'run_label']
