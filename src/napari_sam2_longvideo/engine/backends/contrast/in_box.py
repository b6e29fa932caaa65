"""The weight-free mask inside a detector's box: the pixels that stand out from the box's own edge.

A box drawn around an animal has floor along its edge, so the edge tells which side of the box's
Otsu threshold is floor; the animal is the largest connected region on the other side, its holes
filled. No background model and no video are needed: this works on single images (``segment``).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import label as connected_regions

MIN_CONTRAST = 8  # grey levels: a box whose pixels differ less than this holds no animal to cut out


def box_pixels(box, height: int, width: int) -> tuple[slice, slice] | None:
    """The rows and columns a box ``(x0, y0, x1, y1)`` covers inside the image, or None if none."""
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return slice(y0, y1), slice(x0, x1)


def foreground_in_box(grey: np.ndarray, box) -> np.ndarray:
    """``(H, W)`` bool: the animal inside ``box`` on the grey image; empty where nothing stands out."""
    mask = np.zeros(grey.shape, bool)
    where = box_pixels(box, *grey.shape)
    if where is None:
        return mask
    patch = grey[where]
    if int(patch.max()) - int(patch.min()) < MIN_CONTRAST:
        return mask
    threshold = threshold_otsu(patch)
    edge = np.concatenate([patch[0], patch[-1], patch[1:-1, 0], patch[1:-1, -1]])
    inside = patch <= threshold if np.median(edge) > threshold else patch > threshold
    regions = connected_regions(inside, connectivity=2)
    if regions.max() == 0:
        return mask
    largest = np.argmax(np.bincount(regions.ravel())[1:]) + 1
    mask[where] = ndimage.binary_fill_holes(regions == largest)
    return mask


class ContrastBoxSegmenter:
    """`foreground_in_box` as a box segmenter: one mask per box of an RGB image."""

    def masks_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        masks = np.zeros((len(boxes), *grey.shape), bool)
        for i, box in enumerate(np.asarray(boxes, float).reshape(-1, 4)):
            masks[i] = foreground_in_box(grey, box)
        return masks

    def describe(self) -> dict:
        return {"name": "contrast", "method": "Otsu inside each box, the side unlike the box's edge"}

    def close(self) -> None:
        pass
