"""The project's Keras layers, registered as ``search>ClassName`` serializables.

Importing this module registers every layer, so ``keras.saving.load_model`` finds
them with ``safe_mode=True`` and no ``custom_objects``.
"""

from __future__ import annotations

from search.layers.atan2 import Atan2, safe_atan2
from search.layers.bump import Bump
from search.layers.kernel_distance import KernelDistance
from search.layers.prototypes import initial_width, select_prototypes
from search.layers.truncation import Truncation

__all__ = [
    "Atan2",
    "Bump",
    "KernelDistance",
    "Truncation",
    "initial_width",
    "safe_atan2",
    "select_prototypes",
]
