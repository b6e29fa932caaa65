"""napari writer: a Labels layer to a zlib-compressed TIFF stack that Fiji opens."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.export import write_labels_tiff

FIJI_DTYPES = (np.uint8, np.uint16)


def write_labels_tif(path: str, data, attributes: dict) -> list[str]:
    """Write ``(T, H, W)`` (or one ``(H, W)``) labels to ``path`` frame by frame.

    Lazy data (a run's `LabelStore`) is read one frame at a time. Labels painted in napari are int32 or
    int64, which Fiji does not open; they are written as 8- or 16-bit when their values fit.
    """
    if isinstance(data, list):  # multiscale: the full-resolution level
        data = data[0]
    if data.ndim == 2:
        data = np.asarray(data)[None]
    if data.ndim != 3:
        raise ValueError(f"Labels of {data.ndim} dimensions cannot be saved as a (frame, y, x) TIFF stack.")
    if isinstance(data, np.ndarray) and data.dtype not in FIJI_DTYPES:
        data = _smallest_fiji_type(data)
    target = Path(path)
    if target.suffix.lower() not in (".tif", ".tiff"):
        target = target.with_name(target.name + ".tif")
    return [str(write_labels_tiff(data, target))]


def _smallest_fiji_type(labels: np.ndarray) -> np.ndarray:
    low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
    for dtype in FIJI_DTYPES:
        if low >= 0 and high <= np.iinfo(dtype).max:
            return labels.astype(dtype)
    return labels
