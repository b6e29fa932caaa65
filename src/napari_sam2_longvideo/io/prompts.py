"""Prompts: the user's clicks, as points ``(frame, y, x)`` for an animal, positive or negative."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserInputError

COLUMNS = ("frame", "y", "x", "animal", "positive")
_TRUE, _FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class PointGroup:
    """All the points of one animal on one frame."""

    frame: int
    animal: int
    points_yx: np.ndarray
    positive: np.ndarray


class Prompts:
    """Points in pixels of the original video; any frame, several animals, several points each.

    Parameters
    ----------
    rows : iterable of tuple
        ``(frame, y, x, animal, positive)``.
    source : str
        Where the rows came from, for error messages.
    """

    def __init__(self, rows: Iterable[tuple], source: str = "prompts"):
        rows = list(rows)
        self.source = source
        self.frame = np.array([int(r[0]) for r in rows], dtype=np.int64)
        self.yx = np.array([(float(r[1]), float(r[2])) for r in rows], dtype=np.float64).reshape(-1, 2)
        self.animal = np.array([int(r[3]) for r in rows], dtype=np.int64)
        self.positive = np.array([bool(r[4]) for r in rows], dtype=bool)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def animals(self) -> list[int]:
        return sorted(set(self.animal.tolist()))

    def rows(self) -> list[tuple[int, float, float, int, bool]]:
        return [
            (int(f), float(y), float(x), int(a), bool(p))
            for f, (y, x), a, p in zip(self.frame, self.yx, self.animal, self.positive)
        ]

    def fingerprint(self) -> str:
        """SHA-256 of the sorted rows: a resumed run must use the same prompts."""
        text = "\n".join(f"{f},{y:.3f},{x:.3f},{a},{int(p)}" for f, y, x, a, p in sorted(self.rows()))
        return hashlib.sha256(text.encode()).hexdigest()

    def first_frame(self, animal: int) -> int:
        return int(self.frame[self.animal == animal].min())

    def groups(self, start: int, stop: int) -> Iterator[PointGroup]:
        """The point groups on frames ``start`` to ``stop - 1``, in frame then animal order."""
        keys = sorted({(int(f), int(a)) for f, a in zip(self.frame, self.animal) if start <= f < stop})
        for frame, animal in keys:
            picked = (self.frame == frame) & (self.animal == animal)
            yield PointGroup(frame, animal, self.yx[picked], self.positive[picked])

    def validate(
        self, num_frames: int, height: int, width: int, video: str, *, max_frames: int | None = None
    ) -> Prompts:
        """Raise `UserInputError` for a prompt the tracker cannot use; return self otherwise.

        ``max_frames`` is given when the run tracks only the first ``num_frames`` frames of a longer video
        (``--max-frames``), so that a prompt past them blames the limit, not the video's length.
        """
        if len(self) == 0:
            raise UserInputError(f"{self.source} holds no prompts: click each animal once and try again.")
        for i, (f, (y, x), a) in enumerate(zip(self.frame, self.yx, self.animal)):
            where = f"{self.source}, prompt {i + 1} (animal {a}, frame {f})"
            if a < 1 or a > 65535:
                raise UserInputError(f"{where}: animal ids are labels, 1 to 65535; got {a}.")
            if f >= num_frames and max_frames is not None:
                raise UserInputError(
                    f"{where}: frame {f} is past --max-frames {max_frames}: the run is limited to the first "
                    f"{num_frames} frames of {video} (0 to {num_frames - 1}). Raise --max-frames past {f}, "
                    "or move the prompt to an earlier frame."
                )
            if not 0 <= f < num_frames:
                raise UserInputError(
                    f"{where}: frame {f} is past the end of {video}, which has {num_frames} frames "
                    f"(0 to {num_frames - 1})."
                )
            if not (0 <= y < height and 0 <= x < width):
                raise UserInputError(
                    f"{where}: point (y={y:g}, x={x:g}) is outside the image of {video} "
                    f"({height} x {width} pixels). Prompts are in pixels of the original video."
                )
        for animal in self.animals:
            if not self.positive[self.animal == animal].any():
                raise UserInputError(
                    f"{self.source}: animal {animal} has only negative points; add a positive point "
                    "inside the animal on the frame where it should start."
                )
        return self

    @classmethod
    def from_csv(cls, path: str | Path) -> Prompts:
        """Read ``frame,y,x,animal,positive`` (header required; ``positive`` 1/0 or true/false)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise UserInputError(f"Cannot read prompts file {path}: {error.strerror or error}.") from error
        reader = csv.DictReader(text.splitlines())
        header = tuple(name.strip().lower() for name in (reader.fieldnames or ()))
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise UserInputError(
                f"Prompts file {path} lacks the column(s) {', '.join(missing)}; its header is "
                f"{','.join(header) or '(empty)'}. Expected the header: {','.join(COLUMNS)}."
            )
        rows = []
        for line_number, raw in enumerate(reader, start=2):
            record = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            try:
                positive = record["positive"].lower()
                if positive not in _TRUE | _FALSE:
                    raise ValueError(f"positive must be 1 or 0, not {record['positive']!r}")
                rows.append(
                    (
                        int(record["frame"]),
                        float(record["y"]),
                        float(record["x"]),
                        int(record["animal"]),
                        positive in _TRUE,
                    )
                )
            except ValueError as error:
                raise UserInputError(f"Prompts file {path}, line {line_number}: {error}.") from error
        return cls(rows, source=str(path))

    def to_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for f, y, x, a, p in self.rows():
                writer.writerow((f, f"{y:g}", f"{x:g}", a, int(p)))
