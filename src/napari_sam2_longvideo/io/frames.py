"""Lazy frame sources: one interface over video files, folders of frames, TIFF stacks and arrays.

A `FrameSource` reads one frame at a time, as ``(H, W, 3)`` uint8 RGB, and never holds the whole video.
It also looks enough like a read-only array of shape ``(T, H, W, 3)`` for napari to show it lazily.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import tifffile
from natsort import natsorted
from PIL import Image

from ..errors import FrameReadError, UserInputError
from .convert import plan_conversion, sample_frame_indices
from .source import FrameSource
from .video import VideoFrames

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png") + TIFF_SUFFIXES
# Bit depth of PIL modes, known from the header alone; modes not listed are 8-bit.
PIL_MODE_DTYPES = {"1": np.bool_, "I;16": np.uint16, "I;16L": np.uint16, "I;16B": np.uint16,
                   "I;16N": np.uint16, "I": np.int32, "F": np.float32}
PIL_MODES_READ_AS_IS = {"1", "L", "LA", "RGB", "RGBA", *PIL_MODE_DTYPES}


def open_frames(source) -> FrameSource:
    """Open a video, a folder of frames, a TIFF stack or an array as a `FrameSource`.

    Parameters
    ----------
    source : str, Path, array-like or FrameSource
        A video file (.mp4 .avi .mov .mkv), a folder of .jpg/.png/.tif frames (natural order:
        ``frame2`` before ``frame10``), a multi-page TIFF, or an array (numpy, dask, zarr) of shape
        ``(T, H, W)``, ``(T, H, W, 3)`` or ``(T, H, W, 4)``. A FrameSource is returned as is.

    Raises
    ------
    UserInputError
        If the source is missing, empty or not something these readers understand.
    """
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        if not path.exists():
            raise UserInputError(
                f"{path} does not exist. Give a video file, a folder of frames or a TIFF stack."
            )
        if path.is_dir():
            return ImageFolderFrames(path)
        if suffix in VIDEO_SUFFIXES:
            return VideoFrames(path)
        if suffix in TIFF_SUFFIXES:
            return TiffStackFrames(path)
        if suffix in IMAGE_SUFFIXES:
            raise UserInputError(f"{path} is a single image. Put the frames in one folder and open the folder.")
        raise UserInputError(
            f"{path} is not a supported input: give a video ({' '.join(VIDEO_SUFFIXES)}), a folder of "
            f"frames ({' '.join(IMAGE_SUFFIXES)}) or a TIFF stack."
        )
    if all(hasattr(source, name) for name in ("shape", "dtype", "__getitem__")):
        return ArrayFrames(source)
    raise UserInputError(f"Cannot read frames from a {type(source).__name__}: give a path or an array.")


class ImageFolderFrames(FrameSource):
    """A folder of image files, one frame each, in natural order of their names.

    All sizes and bit depths are checked at open from the headers, so a bad folder fails at once
    rather than hours into a run.
    """

    def __init__(self, folder):
        self.path = str(folder)
        self.files = natsorted(
            (p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
             and p.is_file() and not p.name.startswith(".")),  # "._x.png": macOS metadata, not a frame
            key=lambda p: p.name,
        )
        if not self.files:
            raise UserInputError(
                f"{folder} holds no frames: expected image files ending in {' '.join(IMAGE_SUFFIXES)}."
            )
        self.num_frames = len(self.files)
        (self.width, self.height), dtype = image_header(self.files[0], 0)
        for t, file in enumerate(self.files[1:], start=1):
            size, file_dtype = image_header(file, t)
            if size != (self.width, self.height):
                raise UserInputError(
                    f"{file} is {size[0]}x{size[1]} but {self.files[0].name} is {self.width}x{self.height}; "
                    f"all frames in {folder} must have the same size. Resize it or move it out of the folder."
                )
            if file_dtype != dtype:
                raise UserInputError(
                    f"{file} holds {np.dtype(file_dtype)} pixels but {self.files[0].name} holds "
                    f"{np.dtype(dtype)}; save all frames in {folder} with the same bit depth."
                )
        try:
            self.conversion = plan_conversion(dtype, self.num_frames, lambda t: read_image(self.files[t]))
        except ValueError as error:
            raise UserInputError(f"{folder}: {error}.") from error
        self.info = {"kind": "folder", "num_files": self.num_frames, "dtype": str(np.dtype(dtype)),
                     **self.conversion.describe()}

    def _read_frame(self, t: int) -> np.ndarray:
        file = self.files[t]
        try:
            rgb = self.conversion(read_image(file))
        except Exception as error:  # noqa: BLE001 - any decoder failure is this file's fault
            raise FrameReadError(file, t, f"{error} (replace this file or remove it)") from error
        if rgb.shape[:2] != (self.height, self.width):
            raise FrameReadError(file, t, f"it is now {rgb.shape[1]}x{rgb.shape[0]}, not {self.width}x{self.height}")
        return rgb

    def reopener(self, decoder_threads: int | None = None):
        return functools.partial(open_frames, os.path.abspath(self.path))

    def fingerprint(self) -> dict:
        names = "\n".join(p.name for p in self.files)
        return {"kind": "folder", "path": os.path.abspath(self.path), "num_frames": self.num_frames,
                "names_sha1": hashlib.sha1(names.encode()).hexdigest(),
                "height": self.height, "width": self.width}


def image_header(file: Path, t: int):
    """``((width, height), dtype)`` of an image file, from its header only."""
    try:
        if file.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(file) as tif:
                page = tif.pages[0]
                return (page.imagewidth, page.imagelength), page.dtype
        with Image.open(file) as image:
            return image.size, PIL_MODE_DTYPES.get(image.mode, np.uint8)
    except Exception as error:  # noqa: BLE001 - PIL and tifffile raise many types for unreadable files
        raise FrameReadError(file, t, f"it is not an image that can be read ({error})") from error


def read_image(file: Path) -> np.ndarray:
    """Pixels of one image file as stored: grey, grey+alpha, RGB or RGBA, any bit depth."""
    if file.suffix.lower() in TIFF_SUFFIXES:
        return tifffile.imread(file, key=0)
    with Image.open(file) as image:
        if image.mode not in PIL_MODES_READ_AS_IS:
            image = image.convert("RGB")  # palette, CMYK, YCbCr
        return np.asarray(image)


class TiffStackFrames(FrameSource):
    """A multi-page TIFF, one page per frame, read page by page (memory-mapped when uncompressed)."""

    def __init__(self, path):
        self.path = str(path)
        self._lock = threading.Lock()  # compressed pages are read through one shared file handle
        try:
            self._tif = tifffile.TiffFile(path)
            series = self._tif.series[0]
        except Exception as error:  # noqa: BLE001 - tifffile raises many types for unreadable files
            raise UserInputError(
                f"{path} is not a TIFF stack tifffile can read ({error}). Save it again as a multi-page TIFF."
            ) from error
        frame_axes = next(axes for axes in ("YXS", "SYX", "YX") if series.axes.endswith(axes))
        self._planar = frame_axes == "SYX"  # colour planes stored one after the other
        time_axes = [(axis, n) for axis, n in zip(series.axes[: -len(frame_axes)], series.shape) if n > 1]
        if len(time_axes) > 1 or not series.axes.endswith(frame_axes):
            self._tif.close()
            raise UserInputError(
                f"{path} has axes {series.axes} of sizes {series.shape}; expected one time axis of frames, "
                "each grey or RGB. Save a single time series (for example in Fiji: Image > Hyperstacks)."
            )
        frame_shape = series.shape[-len(frame_axes):]
        self.num_frames = int(np.prod(series.shape[: -len(frame_axes)], dtype=np.int64))
        self.height, self.width = frame_shape[1:] if self._planar else frame_shape[:2]
        self._pages = self._memmap(series, frame_shape)
        try:
            self.conversion = plan_conversion(series.dtype, self.num_frames, self._read_raw)
        except ValueError as error:
            raise UserInputError(f"{path}: {error}.") from error
        self.info = {"kind": "tiff_stack", "axes": series.axes, "dtype": str(series.dtype),
                     "memory_mapped": self._pages is not None, **self.conversion.describe()}

    def _memmap(self, series, frame_shape):
        """A read-only memory map of the pixels, or None where compression or layout forbids one."""
        try:
            pages = tifffile.memmap(self.path, series=0, mode="r")
        except Exception:  # noqa: BLE001 - compressed or scattered data: read page by page instead
            return None
        return pages.reshape((self.num_frames, *frame_shape))

    def _read_raw(self, t: int) -> np.ndarray:
        if self._pages is not None:
            raw = np.array(self._pages[t])  # a copy, so no page of the map stays referenced
        else:
            with self._lock:
                raw = self._tif.asarray(key=t, series=0)
        return np.moveaxis(raw, 0, -1) if self._planar else raw

    def _read_frame(self, t: int) -> np.ndarray:
        if self._tif.filehandle.closed:
            raise UserInputError(f"{self.path} was closed; open it again to read frame {t}.")
        try:
            return self.conversion(self._read_raw(t))
        except Exception as error:  # noqa: BLE001 - any decoder failure is this page's fault
            raise FrameReadError(self.path, t, str(error)) from error

    def reopener(self, decoder_threads: int | None = None):
        return functools.partial(open_frames, os.path.abspath(self.path))

    def fingerprint(self) -> dict:
        return {"kind": "tiff_stack", "path": os.path.abspath(self.path), "size_bytes": os.path.getsize(self.path),
                "num_frames": self.num_frames, "height": self.height, "width": self.width}

    def close(self) -> None:
        self._pages = None
        self._tif.close()


class ArrayFrames(FrameSource):
    """Frames of an in-memory or lazy array (numpy, dask, zarr) of shape ``(T, H, W[, 3|4])``."""

    def __init__(self, array):
        shape = tuple(array.shape)
        if not (len(shape) == 3 or (len(shape) == 4 and shape[3] in (1, 3, 4))) or shape[0] == 0:
            raise UserInputError(
                f"An array of shape {shape} is not a video: expected (T, H, W), (T, H, W, 3) or "
                "(T, H, W, 4) with at least one frame."
            )
        self.path = "<array>"
        self._array = array
        self.num_frames, self.height, self.width = (int(n) for n in shape[:3])
        try:
            self.conversion = plan_conversion(array.dtype, self.num_frames, lambda t: np.asarray(array[t]))
        except ValueError as error:
            raise UserInputError(f"Cannot read the array: {error}.") from error
        self.info = {"kind": "array", "array_type": type(array).__name__, "dtype": str(np.dtype(array.dtype)),
                     **self.conversion.describe()}
        self._fingerprint = None

    def _read_frame(self, t: int) -> np.ndarray:
        try:
            raw = np.asarray(self._array[t])
            rgb = self.conversion(raw)
        except Exception as error:  # noqa: BLE001 - a lazy array can fail in its own ways (dask, zarr)
            raise FrameReadError(self.path, t, str(error)) from error
        # 8-bit RGB passes through as a view: copy so that no caller can change the user's array.
        return rgb.copy() if np.may_share_memory(rgb, raw) else rgb

    def fingerprint(self) -> dict:
        if self._fingerprint is None:  # hashing computes frames of a dask array: do it once
            digest = hashlib.sha1()
            for t in sample_frame_indices(self.num_frames, max_samples=4):
                digest.update(np.ascontiguousarray(self._array[t]).tobytes())
            self._fingerprint = {"kind": "array", "path": self.path, "num_frames": self.num_frames,
                                 "height": self.height, "width": self.width,
                                 "dtype": str(np.dtype(self._array.dtype)), "sampled_frames_sha1": digest.hexdigest()}
        return dict(self._fingerprint)
