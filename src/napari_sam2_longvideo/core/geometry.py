"""Boxes and centres, one convention for the whole package.

A box is ``(x0, y0, x1, y1)`` in pixel edges (ends excluded), as SAM2, ultralytics and OpenCV take it;
a centre is ``(y, x)``, in napari's axis order and the order of the ``centroid_y, centroid_x`` columns.
"""

from __future__ import annotations

import numpy as np


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """``(x0, y0, x1, y1)`` around the mask's pixels (pixel edges), or None for an empty mask."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return np.array([x0, y0, x1 + 1, y1 + 1], np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), xyxy."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_area(box: np.ndarray) -> float:
    """Area of an ``(x0, y0, x1, y1)`` box in pixels, 0 for an empty one."""
    return float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))


def box_centre(box: np.ndarray) -> np.ndarray:
    """``(y, x)`` centre of an ``(x0, y0, x1, y1)`` box."""
    return np.array([(box[1] + box[3]) / 2, (box[0] + box[2]) / 2])


def centre(pixels: np.ndarray, width: int) -> np.ndarray:
    """``(y, x)`` centre of mass of flat indices ``pixels``."""
    rows, cols = np.divmod(pixels, width)
    return np.array([rows.mean(), cols.mean()])


def bounding_box(pixel_sets, width: int) -> tuple[int, int, int, int]:
    """``x0, y0, x1, y1`` (ends excluded) around every pixel of the flat-index arrays in ``pixel_sets``;
    all zeros when they hold none."""
    pixels = [p for p in pixel_sets if len(p)]
    if not pixels:
        return 0, 0, 0, 0
    # the smallest and largest flat index are on the first and last rows; columns need a division
    first, last = min(int(p.min()) for p in pixels), max(int(p.max()) for p in pixels)
    cols = [p % width for p in pixels]
    left, right = min(int(c.min()) for c in cols), max(int(c.max()) for c in cols)
    return left, first // width, right + 1, last // width + 1
