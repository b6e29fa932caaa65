"""``objects.csv``: one row per object that ``segment`` found, one object per detector box."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .files import write_atomically

OBJECTS_FILE = "objects.csv"
OBJECT_COLUMNS = ("frame", "label", "class_id", "class_name", "confidence", "x0", "y0", "x1", "y1", "area")


def write_objects_csv(objects, path: str | Path, class_names: dict[int, str] | None = None) -> Path:
    """Write ``objects`` (anything with ``frame, label, class_id, confidence, box, area``) as `OBJECT_COLUMNS`.

    The box is the detector's (pixels, ``x0, y0, x1, y1``, ends excluded); ``area`` counts the pixels the
    object has in ``labels.tif``, after overlaps went to the more confident box.
    """
    path = Path(path)
    class_names = class_names or {}
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(OBJECT_COLUMNS)
    for o in objects:
        writer.writerow((o.frame, o.label, o.class_id, class_names.get(o.class_id, ""), f"{o.confidence:.6g}",
                         *(f"{float(v):.6g}" for v in o.box), o.area))
    write_atomically(path, lambda handle: handle.write(text.getvalue().encode("utf-8")))
    return path
