"""Each animal's size: its median area over the frames it was alone, a mask that outgrows it cut back to
the body, and a sudden doubling or halving flagged for review.

A mask grown from an animal's core takes whatever touches it at the low level: the shadow of a hollow
in the bedding, the edge of a pellet, a patch of dark floor. Such a spill sticks out of the body; the
body is compact. A mask alone that is larger than `OVERSIZE` times the animal's median area is opened
(an erosion then a dilation) with a disc a fraction of the animal's width (`TRIM_RADIUS`): what is
narrower than the disc, an appendage of floor, falls away, the body keeps its shape.
"""

from __future__ import annotations

import cv2
import numpy as np

HISTORY = 500  # frames alone the median area is taken over: long enough that a spill lasting a few
# dozen frames (the two-mice clip has one of 50 beside its pellets) does not become the animal's size
OVERSIZE = 1.25  # a mask alone larger than this many times the median area has spilled: it is trimmed
TRIM_RADIUS = 0.1  # of the square root of the median area (a mouse's width is about half of it)
RESIZED = 2.0  # a mask this many times larger or smaller than the median area is flagged for review


def remembered(areas: np.ndarray, area: int) -> np.ndarray:
    """``areas`` with ``area`` appended, keeping the last `HISTORY`."""
    return np.append(areas[-(HISTORY - 1):], area).astype(np.int64)


def is_resized(area: int, typical: float | None) -> bool:
    """Whether ``area`` doubled or halved from ``typical`` (None: nothing to compare with yet)."""
    return typical is not None and typical > 0 and not 1 / RESIZED < area / typical < RESIZED


def trimmed(pixels: np.ndarray, typical: float | None, shape: tuple[int, int]) -> np.ndarray:
    """``pixels`` (an animal alone) with what sticks out of its body cut off, where it outgrew ``typical``.

    Returns the pixels unchanged where the mask is not oversized, or where the opening would leave
    nothing (a thin animal seen end-on).
    """
    if typical is None or len(pixels) <= OVERSIZE * typical:
        return pixels
    width = shape[1]
    radius = max(1, int(round(TRIM_RADIUS * np.sqrt(typical))))
    rows, cols = np.divmod(pixels, width)
    top, left = rows.min() - radius, cols.min() - radius
    mask = np.zeros((rows.max() - top + radius + 1, cols.max() - left + radius + 1), np.uint8)
    mask[rows - top, cols - left] = 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disc)
    count, parts, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count < 2:
        return pixels
    body = parts == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # the body; crumbs of the spill go
    kept_rows, kept_cols = np.nonzero(body)
    return np.sort((kept_rows + top) * width + kept_cols + left)
