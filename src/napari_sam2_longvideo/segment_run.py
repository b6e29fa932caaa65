"""One ``segment`` run: images, a detector's boxes and a box segmenter to the files in an output folder.

Like `run.run_tracking`, it checks what a user can get wrong before anything is written, holds the
folder's lock, and writes ``labels.tif`` (N x H x W, the objects of each image labelled 1, 2, ... in
order of confidence), ``objects.csv`` and ``run.json``; the labels wait in a memory-mapped file while
the images are segmented, so memory does not grow with their number. A run that fails or is stopped
leaves no results behind.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engine.detection.detector import class_names_of
from .engine.detection.schedule import load_detector
from .engine.detection.segment_images import LABEL_DTYPE, BoxSegmenter, segment_frames
from .errors import UserInputError
from .io.detections import read_detections_csv
from .io.export import write_labels_tiff
from .io.images import open_images
from .io.objects import OBJECTS_FILE, write_objects_csv
from .io.overlay import check_overlay_path, write_overlay
from .io.run_folder import LABELS_FILE, RUN_FILE, RunFolder, package_versions
from .io.source import FrameSource
from .settings import TrackSettings

# the settings ``segment`` reads; the rest of TrackSettings is about tracking through time
SEGMENT_SETTINGS = (
    "backend", "model", "sam_version", "checkpoint", "random_weights", "image_size", "device", "seed",
    "detector", "detections", "detector_conf", "detector_classes", "detector_imgsz", "overlay",
)
PARTIAL_LABELS = "labels.partial.npy"
RESULT_FILES = (LABELS_FILE, OBJECTS_FILE, RUN_FILE)


@dataclass(frozen=True)
class SegmentWritten:
    """The last event of a ``segment`` run: the files it wrote (``overlay`` None when none was asked for)."""

    labels: Path
    objects: Path
    metadata: Path
    overlay: Path | None
    num_objects: int


def make_box_segmenter(settings: TrackSettings, download_progress=None) -> BoxSegmenter:
    """The box segmenter ``settings.backend`` names (SAM2's image predictor loads only when asked for)."""
    if settings.backend == "contrast":
        from .engine.backends.contrast.in_box import ContrastBoxSegmenter

        return ContrastBoxSegmenter()
    from .engine.backends.sam2.image_predictor import SAM2BoxSegmenter

    return SAM2BoxSegmenter(settings, download_progress)


def run_segment(
    source, settings: TrackSettings, out, *, overwrite: bool = False, segmenter: BoxSegmenter | None = None,
    download_progress=None,
) -> Iterator:
    """Segment every image, yielding a `SegmentedFrame` per image and finally `SegmentWritten`.

    Parameters
    ----------
    source : str, Path, FrameSource or array
        A folder of images, one image, a TIFF stack or a video (each frame on its own).
    settings : TrackSettings
        The fields in `SEGMENT_SETTINGS`: the detector (``detector`` or ``detections``), the backend.
    out : str or Path
        Output folder; results of an earlier run there are refused unless ``overwrite``.
    segmenter : BoxSegmenter, optional
        Defaults to the one ``settings.backend`` names.
    """
    frames, out = _checked_inputs(source, settings, out)
    lock, created = RunFolder.claim(out)
    finished = False
    owned = segmenter is None
    try:
        earlier = [name for name in RESULT_FILES if (out / name).exists()]
        if earlier and not overwrite:
            raise UserInputError(
                f"Output folder {out} holds results already ({', '.join(earlier)}). Pass --overwrite to "
                "replace them, or choose another --out."
            )
        from .engine.devices import pick_device

        detector = load_detector(settings, pick_device(settings.device))  # a bad model file: nothing written
        segmenter = segmenter or make_box_segmenter(settings, download_progress)
        for name in (*RESULT_FILES, PARTIAL_LABELS):
            (out / name).unlink(missing_ok=True)
        folder = RunFolder(out)
        metadata = _metadata(frames, settings, segmenter, detector)
        folder.write_metadata(metadata)
        partial = np.lib.format.open_memmap(
            out / PARTIAL_LABELS, mode="w+", dtype=LABEL_DTYPE, shape=(len(frames), frames.height, frames.width)
        )
        objects = []
        for segmented in segment_frames(frames, detector, segmenter):
            partial[segmented.frame] = segmented.labels
            objects += segmented.objects
            yield segmented
        if not objects:
            raise UserInputError(
                f"The detector found nothing in any of the {len(frames)} images of {frames.path}: check "
                "--detector-conf, --detector-classes, or that the model was trained on these objects."
            )
        names = class_names_of(detector)
        write_labels_tiff(partial, folder.labels_path)
        write_objects_csv(objects, out / OBJECTS_FILE, names)
        overlay = None
        if settings.overlay:
            overlay = write_overlay(settings.overlay, frames, partial, _captions(objects, names))
        metadata.update(status="finished", objects=len(objects), overlay=str(overlay) if overlay else None,
                        frames_without_objects=len(frames) - len({o.frame for o in objects}))
        folder.write_metadata(metadata)
        finished = True
        yield SegmentWritten(folder.labels_path, out / OBJECTS_FILE, folder.run_path, overlay, len(objects))
    finally:
        (out / PARTIAL_LABELS).unlink(missing_ok=True)
        if not finished:  # failed or stopped: no results that look whole
            for name in RESULT_FILES:
                (out / name).unlink(missing_ok=True)
        if owned and segmenter is not None:
            segmenter.close()
        lock.release(remove_empty_folder=created)


def check_segment_settings(settings: TrackSettings, frames: FrameSource | None = None) -> TrackSettings:
    """Raise `UserInputError` unless the settings name boxes for ``frames`` (a detector or a detections
    file whose boxes are on these frames); return the settings."""
    settings.validate()
    if not (settings.detector or settings.detections):
        raise UserInputError(
            "segment needs boxes to prompt the segmenter: give --detector yolo.pt (an ultralytics model) or "
            "--detections boxes.csv (frame,x0,y0,x1,y1,confidence,class_id)."
        )
    if settings.detections and frames is not None:
        read_detections_csv(settings.detections).check_video(len(frames), frames.height, frames.width, frames.path)
    return settings


def _checked_inputs(source, settings: TrackSettings, out) -> tuple[FrameSource, Path]:
    """Everything that can be checked before the output folder is touched."""
    check_segment_settings(settings)
    out = RunFolder.check_path(out)
    if settings.overlay:
        check_overlay_path(settings.overlay)
    if settings.backend == "sam2" and settings.checkpoint and not settings.random_weights:
        from .engine.backends.sam2.checkpoints import check_checkpoint_file, model_spec

        check_checkpoint_file(model_spec(settings.model, settings.sam_version), settings.checkpoint)
    frames = source if isinstance(source, FrameSource) else open_images(source)
    check_segment_settings(settings, frames)
    return frames, out


def _metadata(frames, settings: TrackSettings, segmenter, detector) -> dict:
    return {
        "command": "segment",
        "status": "running",
        "images": frames.fingerprint(),
        "images_info": frames.info,
        "frames": len(frames),
        "settings": {name: getattr(settings, name) for name in SEGMENT_SETTINGS},
        "segmenter": segmenter.describe(),
        "class_names": {str(k): v for k, v in class_names_of(detector).items()},
        "versions": package_versions(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _captions(objects, names: dict[int, str]):
    """``captions(t)`` for the overlay: each object's label and class name."""
    by_frame: dict[int, dict[int, str]] = {}
    for o in objects:
        by_frame.setdefault(o.frame, {})[o.label] = f"{o.label} {names.get(o.class_id, '')}".strip()
    return lambda t: by_frame.get(t, {})
