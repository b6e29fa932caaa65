"""Boxes from another detector or tool: a CSV of ``frame, x0, y0, x1, y1, confidence, class_id``.

An optional ``class_name`` column names each class; the boxes are in pixels of the video (for a folder of
images, ``frame`` is the image's index in natural order). Everything is checked when the file is read,
and each mistake names the file and the line, so a run never starts on a file it would choke on later.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserInputError

COLUMNS = ("frame", "x0", "y0", "x1", "y1", "confidence", "class_id")
OPTIONAL_COLUMNS = ("class_name",)


@dataclass(frozen=True)
class BoxTable:
    """Every box of a detections file, in file order.

    Parameters
    ----------
    frames : numpy.ndarray
        ``(M,)`` int, the frame of each box.
    boxes : numpy.ndarray
        ``(M, 4)`` float ``x0, y0, x1, y1``.
    confidences : numpy.ndarray
        ``(M,)`` float in [0, 1].
    class_ids : numpy.ndarray
        ``(M,)`` int.
    class_names : dict
        Class id -> name, for the classes the file names.
    source : str
        The file, for messages.
    """

    frames: np.ndarray
    boxes: np.ndarray
    confidences: np.ndarray
    class_ids: np.ndarray
    class_names: dict[int, str]
    source: str

    def __len__(self) -> int:
        return len(self.frames)

    def fingerprint(self) -> str:
        """SHA-256 of the boxes: a resumed run must use the same ones."""
        digest = hashlib.sha256()
        for array in (self.frames, self.boxes, self.confidences, self.class_ids):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr(sorted(self.class_names.items())).encode())
        return digest.hexdigest()

    def check_video(self, num_frames: int, height: int, width: int, video: str) -> None:
        """Raise `UserInputError` for a box past the video's frames or wholly outside its image, or for a
        file with no box on any frame of the video."""
        for i in range(len(self)):
            frame, (x0, y0, x1, y1) = int(self.frames[i]), self.boxes[i]
            where = f"Detections file {self.source}, box {i + 1} (frame {frame})"
            if frame >= num_frames:
                raise UserInputError(
                    f"{where}: frame {frame} is past the end of {video}, which has {num_frames} frames "
                    f"(0 to {num_frames - 1}) here. Remove the boxes of other frames, or raise --max-frames."
                )
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise UserInputError(
                    f"{where}: box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the image of {video} "
                    f"({width} x {height} pixels); boxes are x0, y0, x1, y1 in pixels of the video."
                )
        if not len(self):
            raise UserInputError(
                f"Detections file {self.source} holds no boxes: the detector found nothing in {video}."
            )


def read_detections_csv(path: str | Path) -> BoxTable:
    """Read and check a detections CSV (header required; see the module docstring for the columns)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UserInputError(f"Cannot read detections file {path}: {error.strerror or error}.") from error
    reader = csv.DictReader(text.splitlines())
    header = tuple(name.strip().lower() for name in (reader.fieldnames or ()))
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UserInputError(
            f"Detections file {path} lacks the column(s) {', '.join(missing)}; its header is "
            f"{','.join(header) or '(empty)'}. Expected: {','.join(COLUMNS)} and optionally class_name."
        )
    frames, boxes, confidences, class_ids, names = [], [], [], [], {}
    for line, raw in enumerate(reader, start=2):
        record = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"Detections file {path}, line {line}"
        try:
            frame, class_id = int(record["frame"]), int(record["class_id"])
            box = [float(record[c]) for c in ("x0", "y0", "x1", "y1")]
            confidence = float(record["confidence"])
        except ValueError as error:
            raise UserInputError(f"{where}: {error} (frame and class_id are integers, the rest numbers).") from error
        if frame < 0 or class_id < 0:
            raise UserInputError(f"{where}: frame and class_id start at 0; got frame {frame}, class_id {class_id}.")
        if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise UserInputError(
                f"{where}: box x0={box[0]:g}, y0={box[1]:g}, x1={box[2]:g}, y1={box[3]:g} is empty; "
                "x1 must be right of x0 and y1 below y0."
            )
        if not 0 <= confidence <= 1:
            raise UserInputError(f"{where}: confidence {confidence:g} must be between 0 and 1.")
        name = record.get("class_name", "")
        if name:
            if names.setdefault(class_id, name) != name:
                raise UserInputError(
                    f"{where}: class_id {class_id} is named {name!r} here but {names[class_id]!r} before; "
                    "give each class one name."
                )
        frames.append(frame)
        boxes.append(box)
        confidences.append(confidence)
        class_ids.append(class_id)
    return BoxTable(
        np.array(frames, np.int64), np.array(boxes, np.float64).reshape(-1, 4), np.array(confidences, np.float64),
        np.array(class_ids, np.int64), names, str(path),
    )


def write_detections_csv(path: str | Path, rows) -> Path:
    """Write ``(frame, x0, y0, x1, y1, confidence, class_id, class_name)`` rows as a detections file."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS + OPTIONAL_COLUMNS)
        for frame, x0, y0, x1, y1, confidence, class_id, name in rows:
            writer.writerow((int(frame), f"{x0:g}", f"{y0:g}", f"{x1:g}", f"{y1:g}", f"{confidence:g}", int(class_id), name))
    return path
