"""The empty arena: a background model, which side of it the animals are on, and where to look.

The background is taken from frames sampled evenly across the whole video. A median would show the floor
only where animals cover a pixel in fewer than half the samples; an animal that rests for half the
video would stay in it. Knowing the animals' side (dark on a light floor, or light on dark) allows
better: a high percentile for dark animals (low for light ones) shows the floor wherever an animal was
absent from at least a few samples. The background is computed once and saved beside the run's results,
so a resumed run segments exactly as the first one did.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import FrameReadError, UserInputError

BACKGROUND_FILE = "background.npy"
SAMPLES = 31


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


FLOOR_PERCENTILE = 85  # for dark animals; 100 - this for light ones


def floor_background(frames, dark: bool, samples: int = SAMPLES) -> np.ndarray:
    """The floor, from ``samples`` frames spread evenly over the video (read in order)."""
    count = min(samples, len(frames))
    picks = np.unique(np.linspace(0, len(frames) - 1, count).round().astype(int))
    stack = []
    for t in picks:
        try:
            stack.append(grey(frames.read(int(t))))
        except FrameReadError:
            continue  # the floor shows in the other samples; tracking reports the frame when it gets there
    if not stack:
        raise UserInputError(f"None of the frames sampled from {frames.path} could be decoded.")
    stack = np.stack(stack)
    percentile = FLOOR_PERCENTILE if dark else 100 - FLOOR_PERCENTILE
    return np.percentile(stack, percentile, axis=0).round().astype(np.uint8)


def load_or_make_background(frames, folder: Path | None, dark: bool) -> np.ndarray:
    """The saved background of this run if there is one of the right size, else a new one (saved)."""
    path = Path(folder) / BACKGROUND_FILE if folder is not None else None
    if path is not None and path.exists():
        saved = np.load(path)
        if saved.shape == (frames.height, frames.width):
            return saved
    background = floor_background(frames, dark)
    if path is not None:
        temporary = path.with_name(path.name + ".partial.npy")
        np.save(temporary, background)
        temporary.replace(path)
    return background


def arena_mask(arena: str | None, height: int, width: int) -> np.ndarray:
    """Where animals can be: everywhere, a mask image (non-zero inside), or a polygon ``"y,x;y,x;..."``."""
    if not arena:
        return np.ones((height, width), bool)
    path = Path(arena).expanduser()
    if path.is_file():
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise UserInputError(f"Arena mask {path} is not an image OpenCV can read; give a PNG or TIFF.")
        if image.ndim == 3:
            image = image.max(axis=2)
        if image.shape != (height, width):
            raise UserInputError(
                f"Arena mask {path} is {image.shape[1]} x {image.shape[0]} pixels but the video is "
                f"{width} x {height}; draw the mask on a frame of this video."
            )
        return image > 0
    try:
        points = [tuple(float(v) for v in pair.split(",")) for pair in arena.split(";") if pair.strip()]
        polygon = np.array([(x, y) for y, x in points], np.int32)
        if len(polygon) < 3 or polygon.shape[1] != 2:
            raise ValueError
    except ValueError as error:
        raise UserInputError(
            f"--arena {arena!r} is neither a mask file nor a polygon; give a PNG/TIFF mask or corners "
            "as 'y,x;y,x;y,x' in pixels of the video."
        ) from error
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [polygon], 1)
    return mask.astype(bool)


def animals_are_dark(frame_grey: np.ndarray, inside: np.ndarray) -> bool:
    """Whether the prompted pixels are darker than the frame as a whole (animals on a lighter floor)."""
    return float(np.median(frame_grey[inside])) < float(np.median(frame_grey))


def contrast_image(frame_grey: np.ndarray, background: np.ndarray, dark: bool) -> np.ndarray:
    """How much each pixel stands out from the floor on the animals' side; 0 on the other side."""
    return cv2.subtract(background, frame_grey) if dark else cv2.subtract(frame_grey, background)


def otsu_threshold(contrast: np.ndarray) -> float:
    """Otsu's threshold of a contrast image, never below a floor that camera noise stays under."""
    value, _ = cv2.threshold(contrast, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(float(value), 12.0)
