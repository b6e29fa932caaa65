"""An overlay video: each label's outline, id and class name drawn on the frames, written with PyAV.

The overlay has exactly one frame per frame of the input, at the input's frame rate (or
`DEFAULT_FPS` for inputs without one), so frame ``t`` of the overlay shows frame ``t``'s labels. It is
written frame by frame: neither the frames nor the labels are ever all in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from scipy import ndimage

from ..errors import UserInputError
from .files import write_atomically

DEFAULT_FPS = 25  # folders of images and TIFF stacks have no frame rate of their own
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
CODEC = "libx264"
OUTLINE_PX = 2
# distinct colours (RGB) for labels 1, 2, ...: Glasbey-like, readable on dark and light floors
PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
], np.uint8)


def check_overlay_path(path) -> Path:
    """Refuse an overlay path that cannot be written, before any work starts; return it expanded."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in CONTAINERS:
        raise UserInputError(
            f"--overlay {path}: give a video file ending in {', '.join(CONTAINERS)} (for example overlay.mp4)."
        )
    if not path.parent.is_dir():
        raise UserInputError(f"--overlay {path}: the folder {path.parent} does not exist; create it first.")
    if path.is_dir():
        raise UserInputError(f"--overlay {path} is a folder; give the video file to write.")
    return path


def label_colour(label: int) -> tuple[int, int, int]:
    """The colour label ``label`` is drawn in (the same label, the same colour, in every frame)."""
    return tuple(int(v) for v in PALETTE[(int(label) - 1) % len(PALETTE)])


def draw_labels(image: np.ndarray, labels: np.ndarray, captions: dict[int, str]) -> np.ndarray:
    """``image`` (H, W, 3) RGB with each non-zero label's outline and its caption (default: its id)."""
    canvas = np.ascontiguousarray(image, np.uint8).copy()
    labels = np.asarray(labels)
    if labels.shape != canvas.shape[:2]:
        raise ValueError(f"labels of shape {labels.shape} do not fit a frame of {canvas.shape[:2]}")
    for index, where in enumerate(ndimage.find_objects(labels)):
        if where is None:
            continue
        label = index + 1
        rows, cols = where
        crop = (labels[where] == label).astype(np.uint8)
        contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                       offset=(cols.start, rows.start))
        colour = label_colour(label)
        cv2.drawContours(canvas, contours, -1, colour, OUTLINE_PX, lineType=cv2.LINE_AA)
        _caption(canvas, captions.get(label, str(label)), cols.start, rows.start, colour)
    return canvas


def _caption(canvas, text, x, y, colour) -> None:
    """Text above the label's box (inside the frame), dark-edged so it reads on any floor."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1
    (width, height), _ = cv2.getTextSize(text, font, scale, thickness)
    x = int(min(max(x, 0), max(canvas.shape[1] - width, 0)))
    y = int(max(y - 4, height + 2))
    cv2.putText(canvas, text, (x, y), font, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, y), font, scale, colour, thickness, cv2.LINE_AA)


def write_overlay(
    path, frames, labels, captions: Callable[[int], dict[int, str]] | None = None, fps: float | None = None,
) -> Path:
    """Write the overlay video of ``labels`` on ``frames``; return its path.

    Parameters
    ----------
    path : str or Path
        The video to write (.mp4, .mov, .mkv or .avi); written beside itself and renamed when done.
    frames : FrameSource
        The frames, read one at a time.
    labels : array-like
        ``(T, H, W)`` integer labels of the same frames, indexable by frame (a `LabelStore`, a memmap).
    captions : callable, optional
        ``captions(t)`` gives label -> text for frame ``t`` (an id and a class name); labels it leaves
        out are captioned with their id.
    fps : float, optional
        Frame rate; by default the input's, or `DEFAULT_FPS`.
    """
    path = check_overlay_path(path)
    if len(labels) != len(frames):
        raise ValueError(f"{len(labels)} frames of labels for {len(frames)} frames of {frames.path}")
    rate = Fraction(fps or frames.info.get("fps") or DEFAULT_FPS).limit_denominator(100_000)
    # H.264 in 4:2:0 needs even sides: an odd row or column is repeated at the edge
    pad = (frames.height % 2, frames.width % 2)

    def write(handle):
        with av.open(handle, "w", format=CONTAINERS[path.suffix.lower()]) as container:
            stream = container.add_stream(CODEC, rate=rate)
            stream.width, stream.height = frames.width + pad[1], frames.height + pad[0]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "20", "preset": "veryfast"}
            for t in range(len(frames)):
                image = draw_labels(frames.read(t), np.asarray(labels[t]), captions(t) if captions else {})
                if any(pad):
                    image = np.pad(image, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="edge")
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())  # the frames the encoder still holds

    write_atomically(path, write)
    return path


def track_captions(records: np.ndarray, class_names: dict[int, str]) -> Callable[[int], dict[int, str]]:
    """``captions(t)`` for a tracking run: each animal's id, and its class name where a detector named it."""
    named: dict[int, dict[int, str]] = {}
    for frame, animal, class_id in zip(records["frame"].tolist(), records["animal"].tolist(),
                                       records["class_id"].tolist()):
        if class_names.get(class_id):
            named.setdefault(frame, {})[animal] = f"{animal} {class_names[class_id]}"
    return lambda t: named.get(t, {})
