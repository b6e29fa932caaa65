"""The prompts layer: a Points layer of clicks ``(frame, y, x)`` with features ``animal`` and ``positive``.

A click in add mode puts a point for the layer's current animal ("pen"): positive, or negative while
Shift is held or when the pen is set to negative. Points take the colour their animal's label will
have; positive points are discs, negative points crosses. The pen lives in the layer's metadata, so
the layer behaves the same whichever widget (or script) set it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from napari.layers import Image, Points
from napari.layers.base import ActionType

from ..errors import UserInputError
from ..io.prompts import Prompts
from ._colors import animal_color

PROMPTS_KEY = "sam2_longvideo_prompts"  # metadata key: marks a prompts layer and holds its pen
NEGATIVE_MODIFIER = "Shift"
AXIS_LABELS = ("frame", "y", "x")


def point_size(height: int, width: int) -> float:
    """Points big enough to see and small enough to place on a small animal."""
    return max(5.0, min(height, width) / 30)


def prompts_layer_data(prompts: Prompts | None, name: str, frame_shape: tuple[int, int]) -> tuple:
    """A layer data tuple for a prompts layer holding ``prompts`` (or none), for readers and samples."""
    rows = prompts.rows() if prompts is not None else []
    data = np.array([(f, y, x) for f, y, x, _, _ in rows], float).reshape(-1, 3)
    features = _features([a for *_, a, _ in rows], [p for *_, p in rows])
    kwargs = {
        "name": name,
        "ndim": 3,
        "features": features,
        "feature_defaults": _features([1], [True]),
        "size": point_size(*frame_shape),
        "border_color": "white",
        "axis_labels": AXIS_LABELS,
        "metadata": {PROMPTS_KEY: {"animal": 1, "negative": False}},
    }
    if rows:
        kwargs.update(face_color=_face_colors(features), symbol=_symbols(features))
    return data, kwargs, "points"


def is_prompts_layer(layer) -> bool:
    return isinstance(layer, Points) and PROMPTS_KEY in layer.metadata


def adopt(layer: Points) -> None:
    """Make any 3D Points layer a prompts layer: features, pen, Shift-click and colours kept in step.

    Safe to call again on the same layer: napari connects a callback only once.
    """
    if not {"animal", "positive"} <= set(layer.features.columns):
        layer.features = _features(np.ones(len(layer.data), int), np.ones(len(layer.data), bool))
    layer.metadata.setdefault(PROMPTS_KEY, {"animal": 1, "negative": False})
    set_pen(layer, **layer.metadata[PROMPTS_KEY])
    if negative_while_modifier not in layer.mouse_drag_callbacks:
        layer.mouse_drag_callbacks.append(negative_while_modifier)
    layer.events.data.connect(_on_data_changed)


def set_pen(layer: Points, animal: int, negative: bool) -> None:
    """What the next click adds: a point for ``animal``, negative or not."""
    layer.metadata[PROMPTS_KEY] = {"animal": int(animal), "negative": bool(negative)}
    layer.feature_defaults = _features([animal], [not negative])
    layer.current_face_color = animal_color(animal)  # so the layer controls show the pen
    layer.current_symbol = "x" if negative else "disc"
    restyle(layer)  # napari gave the selected points the pen's look: each gets its own back


def negative_while_modifier(layer: Points, event) -> None:
    """Mouse-press callback: a click with Shift held adds a negative point (the pen is kept).

    napari's add-mode callback adds the point on release, after this has set the defaults it uses.
    """
    if layer.mode != "add" or PROMPTS_KEY not in layer.metadata:
        return
    pen = layer.metadata[PROMPTS_KEY]
    negative = pen["negative"] != (NEGATIVE_MODIFIER in event.modifiers)
    layer.feature_defaults = _features([pen["animal"]], [not negative])


def _on_data_changed(event) -> None:
    layer = event.source
    if getattr(event, "action", ActionType.ADDED) in (ActionType.ADDED, ActionType.REMOVED, ActionType.CHANGED):
        if PROMPTS_KEY in layer.metadata:
            set_pen(layer, **layer.metadata[PROMPTS_KEY])  # undoes a Shift-click's one-off default; restyles
        else:
            restyle(layer)


def restyle(layer: Points) -> None:
    """Colour each point as its animal, disc if positive, cross if negative."""
    if len(layer.data):
        layer.face_color = _face_colors(layer.features)
        layer.symbol = _symbols(layer.features)


def prompts_from_layer(points: Points, image: Image) -> Prompts:
    """The layer's points as engine prompts, in pixels of ``image`` (through world coordinates).

    Raises
    ------
    UserInputError
        If the layer is not ``(frame, y, x)`` points with animals.
    """
    if points.ndim != 3 or image.ndim != 3:
        raise UserInputError(
            f"Prompts need (frame, y, x) points on a video: layer '{points.name}' has {points.ndim} "
            f"dimensions and '{image.name}' {image.ndim}. Press 'New prompts' to make a prompts layer."
        )
    adopt(points)
    rows = []
    features = points.features
    for point, animal, positive in zip(points.data, features["animal"], features["positive"], strict=True):
        frame, y, x = image.world_to_data(points.data_to_world(point))
        rows.append((int(round(frame)), float(y), float(x), int(animal), bool(positive)))
    return Prompts(rows, source=f"layer '{points.name}'")


def _features(animals, positives) -> pd.DataFrame:
    return pd.DataFrame({"animal": np.asarray(animals, int), "positive": np.asarray(positives, bool)})


def _face_colors(features: pd.DataFrame) -> np.ndarray:
    return np.array([animal_color(a) for a in features["animal"]]).reshape(-1, 4)


def _symbols(features: pd.DataFrame) -> list[str]:
    return ["disc" if p else "x" for p in features["positive"]]
