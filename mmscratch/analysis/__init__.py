"""Analyses of finished (or running) training runs, read from their work dirs as
data: scratch vs pretrained tables (:mod:`.compare`), data seen (Figure 3,
:mod:`.data_budget`), the paper's numbers (:mod:`.paper_reference`), the
small-data regimes (:mod:`.small_data`) and the reports of a sweep and of a
lever check (:mod:`.sweep`, :mod:`.lever_check`). The curves themselves are
drawn by :mod:`mmscratch.visualization`; the launchers that train the runs
live in :mod:`mmscratch.apis`."""
