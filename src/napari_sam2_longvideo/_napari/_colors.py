"""One colour per animal, the same for its prompt points and for its label in the results."""

from __future__ import annotations

import numpy as np
from napari.utils.colormaps import DirectLabelColormap

# Okabe and Ito's colour-blind-safe palette (without its black), in an order that puts the most distinct
# hues on the first animals; it repeats after seven animals.
ANIMAL_PALETTE = np.array(
    [
        (230, 159, 0),  # orange
        (86, 180, 233),  # sky blue
        (0, 158, 115),  # bluish green
        (240, 228, 66),  # yellow
        (213, 94, 0),  # vermilion
        (0, 114, 178),  # blue
        (204, 121, 167),  # reddish purple
    ],
    float,
) / 255
# Labels a run never writes (above 255 with an 8-bit palette) still show, in grey.
UNLISTED_LABEL_COLOR = (0.7, 0.7, 0.7, 1.0)
LISTED_LABELS = 255


def animal_color(animal: int) -> np.ndarray:
    """RGBA (0 to 1) of ``animal``'s points and label."""
    rgb = ANIMAL_PALETTE[(int(animal) - 1) % len(ANIMAL_PALETTE)]
    return np.append(rgb, 1.0)


def animal_colormap() -> DirectLabelColormap:
    """The colormap of result Labels layers: label n in the colour of animal n, 0 transparent."""
    colors = {animal: animal_color(animal) for animal in range(1, LISTED_LABELS + 1)}
    return DirectLabelColormap(color_dict={None: UNLISTED_LABEL_COLOR, 0: (0, 0, 0, 0), **colors})
