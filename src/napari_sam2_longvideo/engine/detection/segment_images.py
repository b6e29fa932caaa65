"""Segmenting images one by one from a detector's boxes: every box prompts the segmenter for a mask.

The Segment Any Video way for single images: no identities and no tracking, each frame on its own. A
frame's objects are labelled 1, 2, ... in order of the detector's confidence, and where two masks
overlap the more confident box keeps the pixels, so each pixel has one label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ...errors import UserInputError
from .detector import Detections, Detector

LABEL_DTYPE = np.dtype(np.uint16)  # up to 65535 objects on one image


class BoxSegmenter(Protocol):
    def masks_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(N, H, W)`` bool: a mask for each of the ``(N, 4)`` boxes ``x0, y0, x1, y1`` of an RGB image."""

    def describe(self) -> dict:
        """JSON-ready description for ``run.json``."""

    def close(self) -> None:
        """Free the model."""


@dataclass(frozen=True)
class SegmentedObject:
    """One box and its mask on one frame: ``label`` in that frame's label image."""

    frame: int
    label: int
    class_id: int
    confidence: float
    box: np.ndarray
    area: int


@dataclass(frozen=True)
class SegmentedFrame:
    """One frame's label image ``(H, W)`` and its objects, in label order."""

    frame: int
    num_frames: int
    labels: np.ndarray
    objects: list[SegmentedObject]


def paint_objects(frame: int, masks: np.ndarray, found: Detections, shape) -> tuple[np.ndarray, list[SegmentedObject]]:
    """Label image and objects of one frame from one mask per detection (see the module docstring)."""
    if len(found) > np.iinfo(LABEL_DTYPE).max:
        raise UserInputError(
            f"Frame {frame} has {len(found)} boxes, more than the {np.iinfo(LABEL_DTYPE).max} objects a label "
            "image holds; raise --detector-conf."
        )
    order = np.argsort(-np.asarray(found.confidences), kind="stable")
    labels = np.zeros(shape, LABEL_DTYPE)
    for rank in order[::-1]:  # the most confident painted last: it keeps the pixels it shares
        labels[masks[rank]] = np.flatnonzero(order == rank)[0] + 1
    areas = np.bincount(labels.ravel(), minlength=len(found) + 1)
    classes = found.classes()
    objects = [
        SegmentedObject(frame, label, int(classes[i]), float(found.confidences[i]),
                        np.asarray(found.boxes[i], float), int(areas[label]))
        for label, i in enumerate(order, start=1)
    ]
    return labels, objects


def segment_frames(frames, detector: Detector, segmenter: BoxSegmenter) -> Iterator[SegmentedFrame]:
    """Each frame's objects, in frame order: the detector's boxes, each segmented inside its box.

    Parameters
    ----------
    frames : FrameSource
        The images (a folder, a stack or a video, each frame on its own).
    detector : Detector
        Boxes per frame (a YOLO model, or a detections file looked up by frame).
    segmenter : BoxSegmenter
        Masks for boxes: SAM2's image predictor or the contrast segmenter.
    """
    shape = (frames.height, frames.width)
    for t in range(len(frames)):
        image = frames.read(t)
        found = detector.detect(image, frame=t)
        masks = segmenter.masks_in_boxes(image, found.boxes) if len(found) else np.zeros((0, *shape), bool)
        yield SegmentedFrame(t, len(frames), *paint_objects(t, masks, found, shape))
