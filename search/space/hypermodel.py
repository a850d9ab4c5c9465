"""A space module as a ``keras_tuner.HyperModel``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras_tuner

if TYPE_CHECKING:
    import keras

    from search.space.loader import Space


class NotATrainableModel(TypeError):
    """``build(hp)`` returned something a trial cannot train: not a Keras model, or not compiled."""


def check_built(model: Any, space_name: str) -> None:
    """Raises :class:`NotATrainableModel` unless ``model`` is a compiled Keras model."""
    if not hasattr(model, "fit"):
        raise NotATrainableModel(f"build(hp) of space {space_name!r} returned {type(model).__name__}, "
                                 "not a Keras model.")
    if not getattr(model, "compiled", True) and getattr(model, "optimizer", None) is None:
        raise NotATrainableModel(f"build(hp) of space {space_name!r} returned a model that is not compiled; "
                                 "expected model.compile(optimizer, loss, metrics) before it is returned.")


class SpaceHyperModel(keras_tuner.HyperModel):
    """Builds with the space's ``build(hp)`` and trains with its ``fit`` (or ``model.fit``)."""

    def __init__(self, space: Space) -> None:
        super().__init__(name=space.name)
        self.space = space

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        model = self.space.build(hp)
        check_built(model, self.space.name)
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        if self.space.fit is not None:
            return self.space.fit(hp, model, *args, **kwargs)
        return model.fit(*args, **kwargs)
