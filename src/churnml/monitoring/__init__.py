"""Is the model still fit for its customers? Input drift and, once labels mature, decay.

- :mod:`~churnml.monitoring.reference`: the training distributions saved with each
  model version (``reference.json`` in the bundle);
- :mod:`~churnml.monitoring.batch`: a batch's model inputs and scores, by the scorer's
  code path, and the reference made from them at training;
- :mod:`~churnml.monitoring.drift`: PSI and chi-square per feature and score;
- :mod:`~churnml.monitoring.outcomes`: published scores against what happened;
- :mod:`~churnml.monitoring.check`: the whole check and its verdict (exit code);
- :mod:`~churnml.monitoring.plots` (monitor.png), :mod:`~churnml.monitoring.record`
  (the files and the MLflow run).

This package's ``__init__`` imports nothing: the bundle imports
:mod:`~churnml.monitoring.reference`, and the other modules import the bundle.
"""
