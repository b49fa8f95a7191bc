"""Drawings of training runs: the convergence curve (the paper's Figure 1),
shared by ``ConvergenceCurveHook`` (the engine) and the analysis tools."""
from .curves import PLOT_FILE, CurvePlot, plot_curves, plot_runs, run_label

__all__ = ['PLOT_FILE', 'CurvePlot', 'plot_curves', 'plot_runs', 'run_label']
