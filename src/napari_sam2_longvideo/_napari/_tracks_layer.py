"""The animals' centroids as a napari Tracks layer, each animal in the colour of its label.

napari's Tracks layer colours by a property through a colormap; with a colormap given for the property
it maps the values as they are (no rescaling). The property ``palette`` holds the middle of each
animal's bin in a stepwise colormap of `ANIMAL_PALETTE`, so animal n's track has animal n's colour,
whatever the animals of the run.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Tracks
from napari.utils.colormaps import Colormap

from ._colors import ANIMAL_PALETTE
from ._review_data import tracks_data

COLOR_PROPERTY = "palette"
TAIL_LENGTH = 60  # frames of track drawn behind the current one


def palette_colormap() -> Colormap:
    """A stepwise colormap: value ``(i + 0.5) / n`` is the palette's colour ``i``."""
    count = len(ANIMAL_PALETTE)
    colors = np.column_stack([ANIMAL_PALETTE, np.ones(count)])
    return Colormap(colors, controls=np.linspace(0, 1, count + 1), interpolation="zero", name="animals")


def palette_values(animals: np.ndarray) -> np.ndarray:
    """Each animal's place in `palette_colormap` (the palette repeats as `animal_color` repeats)."""
    return ((np.asarray(animals, int) - 1) % len(ANIMAL_PALETTE) + 0.5) / len(ANIMAL_PALETTE)


def show_tracks(viewer, records: np.ndarray, name: str, like=None) -> Tracks | None:
    """Add, or update, the Tracks layer ``name`` of ``records``; None when no animal is seen anywhere.

    ``like`` is the Labels layer the tracks belong to: its scale and translate are used, so the tracks
    lie on the labels.
    """
    data = tracks_data(records)
    if not len(data):
        if name in viewer.layers:
            viewer.layers.remove(name)
        return None
    properties = {COLOR_PROPERTY: palette_values(data[:, 0])}
    if name in viewer.layers and isinstance(viewer.layers[name], Tracks):
        layer = viewer.layers[name]
        layer.color_by = "track_id"  # napari drops the properties with new data: they go back after
        layer.data = data
        layer.properties = properties
        layer.color_by = COLOR_PROPERTY
        return layer
    kwargs = {} if like is None else {"scale": like.scale, "translate": like.translate}
    layer = viewer.add_tracks(
        data, properties=properties, colormaps_dict={COLOR_PROPERTY: palette_colormap()}, color_by=COLOR_PROPERTY,
        name=name, tail_length=TAIL_LENGTH, tail_width=2, blending="translucent", **kwargs,
    )
    if like is not None and like in viewer.layers:  # just above its labels, not over the prompts
        viewer.layers.move(viewer.layers.index(layer), viewer.layers.index(like) + 1)
    return layer
