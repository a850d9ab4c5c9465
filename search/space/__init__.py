"""What is searched, and the space author's one import.

A space is a Python module with ``build(hp)`` and ``load_data(seed)`` (see
:mod:`search.space.loader` for the whole contract). Everything its author uses from the
harness is here::

    from search.space import TrialContext, TrialHook, datasets, fit_arrays, line_plot

- training: :func:`fit_arrays` (``model.fit`` on arrays, one ``tf.data`` iterator per fit);
- data: :mod:`datasets` (scikit-learn's bundled sets and their fixed folds), :class:`Data`;
- watching a trial: :class:`TrialHook` and :class:`TrialContext` (a module's ``TRIAL_HOOKS``);
- figures: :func:`line_plot` and :class:`SvgFigure` (a module's ``plots(model, data)``);
- baselines: :class:`Baseline`, :func:`train`, :func:`evaluate`, :func:`hyperparameters`
  (a module's ``baselines(seed, **kwargs)``);
- loading and checking: :func:`load_space`, :func:`list_spaces`, :class:`Space`,
  :func:`load_data`, :func:`resolve_sets`.

The project's Keras pieces are beside it: :mod:`search.layers`, :mod:`search.losses`,
:mod:`search.metrics`, :mod:`search.initializers`. Importing this module does not import
TensorFlow, so listing spaces stays quick.
"""

from __future__ import annotations

from search.engine.hooks import TrialContext, TrialHook
from search.plots import SvgFigure, line_plot
from search.space import datasets
from search.space.baselines import Baseline, evaluate, hyperparameters, train
from search.space.data import Data, load_data
from search.space.fit import fit_arrays
from search.space.loader import Space, list_spaces, load_space
from search.space.sets import resolve_sets

__all__ = [
    "Baseline",
    "Data",
    "Space",
    "SvgFigure",
    "TrialContext",
    "TrialHook",
    "datasets",
    "evaluate",
    "fit_arrays",
    "hyperparameters",
    "line_plot",
    "list_spaces",
    "load_data",
    "load_space",
    "resolve_sets",
    "train",
]
