"""napari writer: a Labels layer to a compressed TIFF stack (opens in Fiji)."""

from __future__ import annotations

import numpy as np

from ..io.export import write_labels_tiff


def write_labels(path: str, data, attributes: dict) -> list[str]:
    if getattr(data, "ndim", np.ndim(data)) == 2:
        data = np.asarray(data)[None]
    return [str(write_labels_tiff(data, path))]
