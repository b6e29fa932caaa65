"""Object detectors that find the animals on a frame: boxes and confidences, nothing about identity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ...errors import UserInputError


@dataclass(frozen=True)
class Detections:
    """Boxes ``(M, 4)`` as ``(x0, y0, x1, y1)`` in pixels of the video, their confidences ``(M,)`` and,
    where the detector knows them, their class ids ``(M,)``."""

    boxes: np.ndarray
    confidences: np.ndarray
    class_ids: np.ndarray | None = None

    def classes(self) -> np.ndarray:
        """The class ids, 0 where the detector gave none."""
        return np.zeros(len(self), np.int64) if self.class_ids is None else np.asarray(self.class_ids, np.int64)

    def __len__(self) -> int:
        return len(self.confidences)


@runtime_checkable
class Detector(Protocol):
    def detect(self, image: np.ndarray | None, frame: int | None = None) -> Detections:
        """Find animals on one ``(H, W, 3)`` uint8 RGB frame, frame number ``frame`` of the video.

        A detector that looks its boxes up by frame (`BoxFileDetector`) sets ``needs_image = False``
        and is given None for the image, so no frame is decoded for it.
        """


def detect_frame(detector: Detector, frames, frame: int) -> Detections:
    """``detector``'s boxes on ``frame`` of ``frames``, reading the frame only for a detector that looks."""
    image = frames.read(frame) if getattr(detector, "needs_image", True) else None
    return detector.detect(image, frame=frame)


def class_names_of(detector) -> dict[int, str]:
    """Class id -> name, as far as the detector knows them."""
    return dict(getattr(detector, "class_names", None) or {})


def yolo_device(device) -> str:
    """Ultralytics names CUDA devices by index."""
    kind = getattr(device, "type", str(device))
    return "0" if kind == "cuda" else kind


class YoloDetector:
    """An ultralytics YOLO model file (``.pt``) run on single frames.

    Parameters
    ----------
    weights : path
        The model file, trained by the user or by ``--train-detector``.
    confidence : float
        Detections below this are dropped.
    classes : list of int, optional
        Keep only these class ids (a model trained on several kinds of objects).
    image_size : int
        Side of the image the model sees.
    device : str or torch.device
        Where to run it.
    """

    def __init__(self, weights, *, confidence=0.5, classes=None, image_size=640, device="cpu"):
        weights = Path(weights)
        if not weights.is_file():
            raise UserInputError(
                f"Detector weights {weights} do not exist; give the .pt file of a trained YOLO model "
                "with --detector, or train one with --train-detector."
            )
        from ultralytics import YOLO  # heavy; only runs that use a detector pay for it

        try:
            self.model = YOLO(str(weights), task="detect")
        except Exception as error:  # noqa: BLE001 - ultralytics raises many kinds on a bad file
            raise UserInputError(
                f"Detector weights {weights} could not be loaded as an ultralytics YOLO model ({error})."
            ) from error
        self.weights = weights
        self.confidence, self.classes = confidence, classes
        self.image_size, self.device = image_size, yolo_device(device)

    @property
    def class_names(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in (getattr(self.model, "names", None) or {}).items()}

    def detect(self, image: np.ndarray, frame: int | None = None) -> Detections:
        result = self.model.predict(
            np.ascontiguousarray(image[..., ::-1]),  # ultralytics reads numpy images as BGR
            conf=self.confidence,
            classes=self.classes,
            imgsz=self.image_size,
            device=self.device,
            verbose=False,
        )[0]
        boxes = result.boxes
        return Detections(
            boxes.xyxy.cpu().numpy().astype(np.float64).reshape(-1, 4),
            boxes.conf.cpu().numpy().astype(np.float64),
            boxes.cls.cpu().numpy().astype(np.int64),
        )
