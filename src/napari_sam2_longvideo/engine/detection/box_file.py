"""A detector that serves boxes found beforehand (a detections CSV), frame by frame."""

from __future__ import annotations

import numpy as np

from ...io.detections import BoxTable
from .detector import Detections


class BoxFileDetector:
    """The boxes of a `BoxTable` as a `Detector`: ``detect(None, frame=f)`` gives frame ``f``'s boxes.

    Parameters
    ----------
    table : BoxTable
        The boxes, read by `read_detections_csv`.
    confidence : float
        Boxes below this confidence are left out, as a detector's would be.
    classes : list of int, optional
        Keep only these class ids.
    """

    needs_image = False  # boxes are looked up by frame: no frame is decoded for them

    def __init__(self, table: BoxTable, *, confidence: float = 0.0, classes=None):
        keep = table.confidences >= confidence
        if classes is not None:
            keep &= np.isin(table.class_ids, list(classes))
        self.table, self.class_names = table, dict(table.class_names)
        order = np.argsort(table.frames[keep], kind="stable")  # file order kept within a frame
        self._frames = table.frames[keep][order]
        self._boxes = table.boxes[keep][order]
        self._confidences = table.confidences[keep][order]
        self._classes = table.class_ids[keep][order]

    def __len__(self) -> int:
        return len(self._frames)

    def detect(self, image=None, frame: int | None = None) -> Detections:
        if frame is None:
            raise TypeError("boxes from a detections file are looked up by frame: call detect(image, frame=f)")
        start, stop = np.searchsorted(self._frames, [frame, frame + 1])
        return Detections(self._boxes[start:stop], self._confidences[start:stop], self._classes[start:stop])
