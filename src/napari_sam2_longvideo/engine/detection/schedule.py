"""Which detector seeds each chunk: none, the user's, or one trained on the video's first frames.

The tracker asks `for_chunk` at the start of every chunk after the first. It is a generator so that
training, which takes minutes, can report progress through the tracker's events and be stopped.
"""

from __future__ import annotations

from pathlib import Path

from ...io.detections import read_detections_csv
from ...io.run_folder import DETECTOR_DATA_DIR, DETECTOR_FILE
from .box_file import BoxFileDetector
from .detector import Detector, YoloDetector
from .training import train_detector, write_training_set


def load_detector(settings, device="cpu") -> Detector | None:
    """The detector the settings name: ``--detector``'s model, ``--detections``' boxes, or None."""
    if settings.detections:
        return BoxFileDetector(
            read_detections_csv(settings.detections), confidence=settings.detector_conf,
            classes=settings.detector_classes,
        )
    if settings.detector:
        return YoloDetector(
            settings.detector, confidence=settings.detector_conf, classes=settings.detector_classes,
            image_size=settings.detector_imgsz, device=device,
        )
    return None


class FixedDetector:
    """The same detector for every chunk (one loaded by the caller, or a test's)."""

    def __init__(self, detector: Detector | None):
        self.detector = detector

    def for_chunk(self, chunk, store):
        return self.detector
        yield  # a generator that reports nothing


class DetectorSchedule:
    """The detector the settings ask for, loaded or trained when it is first needed.

    Parameters
    ----------
    settings : TrackSettings
        ``detector`` (a model file) or ``train_detector`` with its options.
    folder : Path
        The run's output folder: ``detector.pt``, its metrics and training data go there, and an
        existing ``detector.pt`` is reused when a run resumes.
    frames : FrameSource
        The video, for the training images.
    animals : list of int
        The animals to draw boxes around.
    device : str or torch.device
        Where YOLO runs.
    """

    def __init__(self, settings, folder: Path, frames, animals, device="cpu"):
        self.settings, self.folder, self.frames = settings, Path(folder), frames
        self.animals, self.device = list(animals), device
        self._detector: Detector | None = None
        if settings.detector or settings.detections:
            # loaded now, not at the second chunk: a missing or broken model file is refused before any
            # frame is tracked, however many chunks the run has
            self._detector = load_detector(settings, device)

    @property
    def detector(self) -> Detector | None:
        """The detector loaded so far (None before a trained one exists)."""
        return self._detector

    @property
    def trained_path(self) -> Path:
        return self.folder / DETECTOR_FILE

    def _load(self, weights) -> Detector:
        s = self.settings
        return YoloDetector(
            weights, confidence=s.detector_conf, classes=s.detector_classes, image_size=s.detector_imgsz,
            device=self.device,
        )

    def for_chunk(self, chunk, store):
        if self._detector is not None:
            return self._detector
        if self.settings.train_detector:
            if not self.trained_path.exists():
                train_stop = min(self.settings.train_frames, len(self.frames))
                if any(c.start < train_stop and not store.is_done(c.index) for c in store.chunks):
                    return None  # its training frames are not all tracked yet
                data = write_training_set(
                    self.frames, store.frame, range(train_stop), self.animals,
                    self.folder / DETECTOR_DATA_DIR, self.settings.detector_imgsz,
                )
                yield from train_detector(
                    data, self.trained_path, epochs=self.settings.detector_epochs,
                    patience=self.settings.detector_patience, size=self.settings.detector_imgsz,
                    device=self.device,
                )
            self._detector = self._load(self.trained_path)
        return self._detector
