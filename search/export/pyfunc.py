"""The MLflow ``PythonModel`` that serves an exported ``.keras`` model.

Logged with ``code_paths`` holding the ``search`` package, which MLflow puts first on
``sys.path`` when the model loads, so ``import search`` works in a serving process
without the project installed; importing ``search`` registers the custom layers, losses
and metrics as soon as Keras loads, and the ``.keras`` file then loads with
``safe_mode=True`` and no ``custom_objects``.

Input: one array for a single-input model; for several inputs, a dict of arrays keyed by
the names of the model's ``keras.Input``s (``input_<i>`` when unnamed or not unique).
Output: one array, or a dict ``output_<j>`` for several outputs (in ``keras.tree``
flattening order).
"""

import mlflow.pyfunc
import numpy as np

KERAS_ARTIFACT = "keras_model"


class KerasModel(mlflow.pyfunc.PythonModel):
    """Loads the ``.keras`` artifact once and predicts in inference mode."""

    def load_context(self, context):
        import search  # noqa: F401 - registers the project's serializables when Keras loads

        import keras

        from search.export.probe import input_names

        self.model = keras.saving.load_model(context.artifacts[KERAS_ARTIFACT], safe_mode=True)
        self.input_names = input_names(self.model, len(self.model.inputs))

    # `np.ndarray` is a hint MLflow infers no schema from (the logged signature is the schema; a
    # dict of arrays comes in for several inputs); without a hint MLflow warns on every import.
    def predict(self, context, model_input: np.ndarray, params=None):
        from search.export.probe import flatten_outputs

        if isinstance(model_input, dict):
            missing = [n for n in self.input_names if n not in model_input]
            if missing:
                raise ValueError(f"Missing model inputs {missing}; expected {self.input_names}.")
            x = [np.asarray(model_input[n]) for n in self.input_names]
        elif hasattr(model_input, "to_numpy"):  # a DataFrame of one input's columns
            x = [model_input.to_numpy()]
        else:
            x = [np.asarray(model_input)]
        outputs = flatten_outputs(self.model.predict_on_batch(x[0] if len(x) == 1 else x))
        return outputs[0] if len(outputs) == 1 else {f"output_{j}": o for j, o in enumerate(outputs)}
