"""What a study stores, and reading it back.

- ``keys``: every Optuna user attribute, constraint and MLflow tag name the project writes,
  and the readers that interpret them (a retry, the trials used, a trial's values);
- ``studies``: opening a stored study by name;
- ``summary``: a study's trials counted by state and its best trial (:class:`StudyResult`);
- ``table``: ``search trials`` and ``search best``;
- ``failures``: ``search trials --failures``, failed and pruned trials grouped by reason.
- ``confirmed``: what ``search confirm`` stored: each finished retrain and each trial's confirmed figures.
"""
