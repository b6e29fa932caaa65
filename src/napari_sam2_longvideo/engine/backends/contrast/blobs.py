"""One frame's animals as blobs: the foreground against the floor, cut into connected pieces.

Masks are kept as sorted flat pixel indices into the frame (``numpy.flatnonzero`` of a boolean image):
an animal covers a few thousand of a frame's hundreds of thousands of pixels, and overlaps, centres and
logits then cost in proportion to the animal, not to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .floor import FloorModel, normalised

OPEN_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
# A frame on which more than this fraction of the arena stands out is not animals on the floor: the
# light changed, or the camera moved. Nothing is found there rather than everything.
MAX_FOREGROUND = 0.3


@dataclass
class Blobs:
    """The connected pieces of one frame's foreground.

    Attributes
    ----------
    labels : numpy.ndarray
        ``(H, W)`` int32: 0 on the floor, ``b`` on blob ``b``.
    areas : numpy.ndarray
        ``(count,)`` pixels per label (entry 0 is the floor).
    boxes : numpy.ndarray
        ``(count, 4)`` ``x, y, width, height`` per label.
    """

    labels: np.ndarray
    areas: np.ndarray
    boxes: np.ndarray
    _pixels: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def empty(cls, height: int, width: int) -> Blobs:
        return cls(np.zeros((height, width), np.int32), np.zeros(1, np.int64), np.zeros((1, 4), np.int64))

    def pixels(self, blob: int) -> np.ndarray:
        """Flat indices of blob ``blob``, found inside its bounding box (once)."""
        if blob not in self._pixels:
            x, y, w, h = self.boxes[blob]
            rows, cols = np.nonzero(self.labels[y : y + h, x : x + w] == blob)
            self._pixels[blob] = (rows + y) * self.labels.shape[1] + cols + x
        return self._pixels[blob]

    def big(self, min_area: int) -> np.ndarray:
        """Labels of the blobs of at least ``min_area`` pixels."""
        return np.flatnonzero(self.areas[1:] >= min_area) + 1

    def forget(self, pixels: np.ndarray) -> None:
        """Take ``pixels`` out of every blob (they belong to a prompted animal); a blob they cover whole
        is left with no area, so it is no longer big."""
        flat = self.labels.ravel()
        self.areas = self.areas - np.bincount(flat[pixels], minlength=len(self.areas))
        flat[pixels] = 0
        self._pixels.clear()

    def overlaps(self, pixels: np.ndarray) -> np.ndarray:
        """``(count,)``: how many of ``pixels`` fall on each blob (entry 0: on the floor)."""
        return np.bincount(self.labels.ravel()[pixels], minlength=len(self.areas))


def find_blobs(
    frame_grey: np.ndarray, floor: FloorModel, arena: np.ndarray | None, arena_area: int, min_area: int = 0
) -> Blobs:
    """Pixels standing out from the floor on the animals' side, specks removed, holes filled, labelled.

    `find_outlines` then `blobs_from_outlines`; the two halves can run in different processes.
    """
    return blobs_from_outlines(find_outlines(frame_grey, floor, arena, arena_area, min_area), frame_grey.shape)


def find_outlines(
    frame_grey: np.ndarray, floor: FloorModel, arena: np.ndarray | None, arena_area: int, min_area: int = 0
) -> list[np.ndarray]:
    """The outer outlines (OpenCV contours) of the blobs on one frame.

    A blob is grown from a confident core (pixels at least ``floor.threshold`` from the local floor)
    into the connected pixels at least ``floor.low`` from it: hysteresis, as
    ``skimage.filters.apply_hysteresis_threshold`` does, so that parts that contrast weakly (an
    abdomen, legs, a tail) stay with the body, while floor texture at the low level that touches no
    core is left out. The low foreground is opened first, which removes specks and cuts the one-pixel
    bridges through which growth would leak into the texture of the floor.

    A frame that shows no floor (black or white) has no blobs: the animals are lost there, not replaced
    by whatever the frame shows. ``arena`` is a uint8 0/1 image, or None for the whole frame. Blobs
    that cannot hold ``min_area`` pixels are left out (they are floor texture, not animals).
    """
    frame_grey = normalised(frame_grey, floor.floor_level)
    if frame_grey is None:
        return []
    contrast = floor.contrast(frame_grey)
    _, mask = cv2.threshold(contrast, floor.low, 1, cv2.THRESH_BINARY)
    if arena is not None:
        mask = cv2.bitwise_and(mask, arena)
    if cv2.countNonZero(mask) > MAX_FOREGROUND * arena_area:
        return []
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, OPEN_KERNEL)
    if floor.low < floor.threshold:
        _, cores = cv2.threshold(contrast, floor.threshold, 1, cv2.THRESH_BINARY)
        mask = grown_from_cores(mask, cv2.bitwise_and(cores, mask), min_area * CORE_FRACTION)
    outlines, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [o for o in outlines if _may_hold(o, min_area)]


CORE_FRACTION = 0.5  # of --min-area: a core smaller than this is a speck of the floor, not an animal's


def grown_from_cores(low: np.ndarray, cores: np.ndarray, min_core: float = 0) -> np.ndarray:
    """The pieces of ``low`` (uint8 0/1) that hold a core of ``cores`` able to hold ``min_core`` pixels.

    One flood fill per core from a pixel on its outline (which lies on the core, so in ``low``); a
    core inside a piece already filled costs nothing more. Work in proportion to the animals.
    """
    outlines, _ = cv2.findContours(cores, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros((low.shape[0] + 2, low.shape[1] + 2), np.uint8)
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    for outline in outlines:
        x, y = (int(v) for v in outline[0, 0])
        if filled[y + 1, x + 1] or not _may_hold(outline, min_core):
            continue
        cv2.floodFill(low, filled, (x, y), 1, 0, 0, flags)
    return np.ascontiguousarray(filled[1:-1, 1:-1])


def _may_hold(outline: np.ndarray, area: float) -> bool:
    """Whether the blob inside ``outline`` may hold ``area`` pixels.

    By Pick's theorem a blob has at most its outline's area plus half its length plus one pixels (the
    outline runs through the centres of the edge pixels); the margin here is twice that.
    """
    return area <= 1 or cv2.contourArea(outline) + cv2.arcLength(outline, True) + 1 >= area


def blobs_from_outlines(outlines: list[np.ndarray], shape: tuple[int, int]) -> Blobs:
    """The blobs inside ``outlines``, labelled in raster order.

    Each blob is the inside of an outer outline, holes and all: filling the outlines labels the blobs
    and fills their holes at once, faster than a flood fill followed by connected components with
    statistics.
    """
    outlines = sorted(outlines, key=_first_pixel)  # numbered in raster order, as connected components are
    labels = np.zeros(shape, np.int32)
    boxes = np.zeros((len(outlines) + 1, 4), np.int64)
    areas = np.zeros(len(outlines) + 1, np.int64)
    for blob, outline in enumerate(outlines, start=1):
        cv2.drawContours(labels, [outline], 0, blob, thickness=cv2.FILLED)
        x, y, w, h = boxes[blob] = cv2.boundingRect(outline)
        areas[blob] = np.count_nonzero(labels[y : y + h, x : x + w] == blob)
    return Blobs(labels, areas, boxes)


def _first_pixel(outline: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the outline's first pixel in raster order: its top row, leftmost there."""
    points = outline[:, 0]
    top = points[:, 1].min()
    return int(top), int(points[points[:, 1] == top, 0].min())


def shifted(pixels: np.ndarray, shift: np.ndarray, shape: tuple[int, int], cols: np.ndarray | None = None) -> np.ndarray:
    """``pixels`` moved by ``(dy, dx)`` (rounded), dropping those that leave the frame; ``cols`` (the
    pixels' columns) may be given when known, which saves a division per pixel."""
    dy, dx = int(round(shift[0])), int(round(shift[1]))
    cols = pixels % shape[1] if cols is None else cols
    moved = pixels + (dy * shape[1] + dx)
    inside = (moved >= 0) & (moved < shape[0] * shape[1]) & (cols >= -dx) & (cols < shape[1] - dx)
    return moved[inside]
