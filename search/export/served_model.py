"""The file MLflow executes to create the served model ("models from code", no pickle).

``mlflow.pyfunc.save_model(python_model=<this file>)`` copies it into the model folder;
at load time MLflow puts the logged ``code_paths`` (the ``search`` package) on
``sys.path`` and runs it. Never imported by the project itself.
"""

import mlflow.models

from search.export.pyfunc import KerasModel

mlflow.models.set_model(KerasModel())
