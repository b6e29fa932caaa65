"""The prompts layer: a Points layer whose points are ``(frame, y, x)`` with features animal and positive.

Clicking in add mode puts a point for the current animal (``feature_defaults``); positive points are
discs, negative ones crosses, each in the colour its animal's label will have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io.prompts import Prompts
from ._colors import animal_color

PROMPTS_KEY = "sam2_longvideo_prompts"


def prompts_layer_data(prompts: Prompts | None, name: str):
    """Layer data tuple for a prompts layer holding ``prompts`` (or none)."""
    rows = prompts.rows() if prompts is not None else []
    data = np.array([(f, y, x) for f, y, x, _, _ in rows], float).reshape(-1, 3)
    features = pd.DataFrame({"animal": [a for *_, a, _ in rows], "positive": [p for *_, p in rows]})
    features = features.astype({"animal": int, "positive": bool})
    kwargs = {"name": name, "features": features, "size": 12, "ndim": 3, "metadata": {PROMPTS_KEY: True},
              "border_color": "white"}
    if rows:
        kwargs.update(face_color=_colors(features), symbol=_symbols(features))
    return data, kwargs, "points"


def _colors(features) -> np.ndarray:
    return np.array([animal_color(a) for a in features["animal"]]).reshape(-1, 4)


def _symbols(features) -> list[str]:
    return ["disc" if p else "x" for p in features["positive"]]


def setup_prompts_layer(layer, animal: int = 1, positive: bool = True) -> None:
    """Make a Points layer behave as a prompts layer: defaults for new points, colours kept in step."""
    layer.metadata[PROMPTS_KEY] = True
    if "animal" not in layer.features:
        layer.features = pd.DataFrame({"animal": np.ones(len(layer.data), int),
                                       "positive": np.ones(len(layer.data), bool)})
    set_current(layer, animal, positive)
    layer.events.data.connect(lambda event=None: restyle(layer))
    restyle(layer)


def set_current(layer, animal: int, positive: bool) -> None:
    layer.feature_defaults = pd.DataFrame({"animal": [int(animal)], "positive": [bool(positive)]})
    layer.current_face_color = animal_color(animal)
    layer.current_symbol = "disc" if positive else "x"


def restyle(layer) -> None:
    if len(layer.data):
        with layer.events.data.blocker():
            layer.face_color = _colors(layer.features)
            layer.symbol = _symbols(layer.features)


def prompts_from_layer(layer, source: str) -> Prompts:
    """The layer's points as engine prompts (pixel coordinates of the video)."""
    features = layer.features
    rows = [
        (int(round(f)), float(y), float(x), int(a), bool(p))
        for (f, y, x), a, p in zip(layer.data, features["animal"], features["positive"])
    ]
    return Prompts(rows, source=source)
