"""The one settings object shared by the command line, the napari widget and the saved run metadata."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import UserInputError

MODEL_SIZES = ("tiny", "small", "base_plus", "large")
SAM_VERSIONS = ("2.1", "2.0")
DEVICES = ("auto", "cuda", "mps", "cpu")
BACKENDS = ("sam2", "contrast")

# SAM2 reads object pointers from up to 16 frames back (max_obj_ptrs_in_encoder), so pruning
# any closer would change its results.
MIN_PRUNE_WINDOW = 16


@dataclass
class TrackSettings:
    """How to track: everything that changes the result is here, and is saved in ``run.json``.

    Parameters
    ----------
    backend : str
        ``"sam2"``, or ``"contrast"`` (no weights: background difference, for dark animals on a light
        floor or light on dark).
    model : str
        SAM2 model size: ``tiny``, ``small``, ``base_plus`` or ``large``.
    sam_version : str
        ``"2.1"`` (default) or ``"2.0"``.
    checkpoint : str or None
        Path of a checkpoint file; ``None`` downloads the official one into the user cache.
    random_weights : bool
        Build the model with a fixed seed and no checkpoint. For tests and benchmarks only.
    image_size : int
        Side of the square image SAM2 sees (1024 as trained; 512 is faster).
    device : str
        ``auto``, ``cuda``, ``mps`` or ``cpu``.
    chunk_size : int
        Frames per chunk; memory is bounded by this, not by the video length.
    prune_window : int
        Non-prompted frame outputs older than this many frames are dropped inside a chunk.
    max_frames : int or None
        Track only the first ``max_frames`` frames (to try settings on the start of a long video).
    seed : int
        Seed for random weights.
    detector : str or None
        An ultralytics YOLO model file; at each chunk start it re-anchors drifting animals and finds
        lost ones (identities by a global assignment, never by confidence order).
    detector_conf : float
        Detections below this confidence are ignored.
    detector_classes : list of int or None
        Keep only these detector classes.
    detector_imgsz : int
        Side of the image the detector sees (and is trained at).
    train_detector : bool
        Train a detector on the first ``train_frames`` frames' own masks, save it as ``detector.pt`` in
        the output folder, and use it for the rest of the video.
    train_frames, detector_epochs, detector_patience : int
        Training frames, epochs, and epochs without improvement before training stops.
    reanchor_iou : float
        An animal whose mask overlaps its assigned detection less than this is prompted with the box.
    arena : str or None
        Contrast backend: a mask image (non-zero inside) or a polygon ``"y,x;y,x;..."``; outside is ignored.
    threshold : float or None
        Contrast backend: grey levels an animal differs from the floor by; None picks one (Otsu).
    min_area : int or None
        Contrast backend: smaller blobs are not animals; None takes a fifth of the first prompted animal.
    """

    backend: str = "sam2"
    model: str = "tiny"
    sam_version: str = "2.1"
    checkpoint: str | None = None
    random_weights: bool = False
    image_size: int = 1024
    device: str = "auto"
    chunk_size: int = 100
    prune_window: int = MIN_PRUNE_WINDOW
    max_frames: int | None = None
    seed: int = 0
    detector: str | None = None
    detector_conf: float = 0.5
    detector_classes: list[int] | None = None
    detector_imgsz: int = 640
    train_detector: bool = False
    train_frames: int = 100
    detector_epochs: int = 30
    detector_patience: int = 10
    reanchor_iou: float = 0.5
    arena: str | None = None
    threshold: float | None = None
    min_area: int | None = None

    def validate(self) -> TrackSettings:
        """Raise `UserInputError` naming the first bad setting; return self when all are good."""
        if self.backend not in BACKENDS:
            raise UserInputError(f"Unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}.")
        if self.model not in MODEL_SIZES:
            raise UserInputError(
                f"Unknown model {self.model!r}; choose one of {', '.join(MODEL_SIZES)}."
            )
        if self.sam_version not in SAM_VERSIONS:
            raise UserInputError(
                f"Unknown SAM version {self.sam_version!r}; choose one of {', '.join(SAM_VERSIONS)}."
            )
        if self.device not in DEVICES:
            raise UserInputError(f"Unknown device {self.device!r}; choose one of {', '.join(DEVICES)}.")
        if self.image_size < 64 or self.image_size % 16:
            raise UserInputError(
                f"--image-size {self.image_size} is not usable; give a multiple of 16, at least 64 "
                "(1024 as SAM2 was trained, 512 for speed)."
            )
        if self.chunk_size < 2:
            raise UserInputError(f"--chunk-size {self.chunk_size} is too small; give at least 2 frames.")
        if self.prune_window < MIN_PRUNE_WINDOW:
            raise UserInputError(
                f"--prune-window {self.prune_window} is below {MIN_PRUNE_WINDOW}: SAM2 looks "
                f"{MIN_PRUNE_WINDOW} frames back for object pointers."
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise UserInputError(f"--max-frames {self.max_frames} must be at least 1.")
        if self.detector and self.train_detector:
            raise UserInputError("Give either --detector or --train-detector, not both.")
        if not 0 < self.detector_conf < 1:
            raise UserInputError(f"--detector-conf {self.detector_conf} must be between 0 and 1.")
        if not 0 <= self.reanchor_iou <= 1:
            raise UserInputError(f"--reanchor-iou {self.reanchor_iou} must be between 0 and 1.")
        if self.train_frames < 5 or self.detector_epochs < 1 or self.detector_imgsz < 32:
            raise UserInputError(
                "--train-frames needs at least 5 frames, --detector-epochs at least 1 and "
                "--detector-imgsz at least 32."
            )
        if self.threshold is not None and not 0 < self.threshold < 255:
            raise UserInputError(f"--threshold {self.threshold} must be between 0 and 255 grey levels.")
        if self.min_area is not None and self.min_area < 1:
            raise UserInputError(f"--min-area {self.min_area} must be at least 1 pixel.")
        if self.checkpoint and self.random_weights:
            raise UserInputError("Give either --checkpoint or --random-weights, not both.")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrackSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def result_defining(self) -> dict:
        """The settings that change the labels; a resumed run must match these exactly."""
        values = self.to_dict()
        values.pop("device")  # the same run may move between machines
        return values
