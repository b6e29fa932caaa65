"""Images to segment one by one: a single image file as a one-frame source, anything else as a video.

``segment`` takes what ``track`` takes (a folder of images, a TIFF stack, a video) and also one image
file, which `open_frames` refuses for tracking (one frame is not a video to track through).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import FrameReadError, UserInputError
from .convert import plan_conversion
from .frames import IMAGE_SUFFIXES, TIFF_SUFFIXES, image_header, open_frames, read_image
from .source import FrameSource


def open_images(source) -> FrameSource:
    """Open one image file (.jpg, .png, a one-page .tif) as a one-frame source, else as `open_frames` does."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        if path.is_file() and suffix in IMAGE_SUFFIXES and suffix not in TIFF_SUFFIXES:
            return SingleImage(path)
    return open_frames(source)


class SingleImage(FrameSource):
    """One image file as a source of one frame, RGB uint8 like every other source."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.file = Path(path)
        (self.width, self.height), dtype = image_header(self.file, 0)
        self.num_frames = 1
        try:
            self.conversion = plan_conversion(dtype, 1, lambda t: read_image(self.file))
        except ValueError as error:
            raise UserInputError(f"{path}: {error}.") from error
        self.info = {"kind": "image", "dtype": str(dtype), **self.conversion.describe()}

    def _read_frame(self, t: int):
        try:
            return self.conversion(read_image(self.file))
        except Exception as error:  # noqa: BLE001 - any decoder failure is this file's fault
            raise FrameReadError(self.file, t, f"{error} (replace this file)") from error

    def reopener(self, decoder_threads: int | None = None):
        return functools.partial(open_images, os.path.abspath(self.path))

    def fingerprint(self) -> dict:
        digest = hashlib.sha1(self.file.read_bytes()).hexdigest()
        return {"kind": "image", "path": os.path.abspath(self.path), "num_frames": 1, "sha1": digest,
                "height": self.height, "width": self.width}


def read_label_image(source) -> np.ndarray:
    """A label image (TIFF or PNG, one integer per pixel, 0 for none), such as one painted frame; refused
    with what to do when it is missing, unreadable, in colour or not whole numbers."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise UserInputError(f"The label image {path} does not exist.")
    try:
        labels = read_image(path)
    except Exception as error:  # noqa: BLE001 - any decoder failure is this file's fault
        raise UserInputError(f"{path} could not be read as an image ({error}).") from error
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise UserInputError(
            f"{path} is a {labels.dtype} image of shape {'x'.join(map(str, labels.shape))}; a label image has one "
            "whole number per pixel (0 for no animal, else the animal id): save the labels, not a coloured picture."
        )
    return labels
