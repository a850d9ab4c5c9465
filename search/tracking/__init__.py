"""The only package that writes to the MLflow tracking store.

- :mod:`~search.tracking.client`: the MLflow client of a tracking URI, its store opened one
  process at a time, and the entities writes are made of;
- :class:`~search.tracking.tracker.Tracker`: a study's invocations and trials as runs (a
  :class:`~search.engine.hooks.TrialListener`), baselines and comparisons as child runs;
- :class:`~search.tracking.models.ModelStore`: what ``search export`` reads and writes
  (trial artifacts, logged models, the registry).

Importing this package is cheap: MLflow loads when a client is first made.
"""
