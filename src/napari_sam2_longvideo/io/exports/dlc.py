"""DeepLabCut multi-animal CSV: header rows scorer / individuals / bodyparts / coords, one row a frame.

One body part, the centroid, per individual; ``likelihood`` is the tracking backend's score. Frames
where an animal is lost are empty cells (NaN), as DeepLabCut leaves undetected parts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .run_data import NODE, RunData

SCORER = "sam2longvideo"  # DeepLabCut names the file after the scorer: VIDEO + "DLC_" + scorer


def write_dlc(run: RunData, folder: Path) -> list[Path]:
    path = folder / f"{run.name}DLC_{SCORER}.csv"
    columns, values = [], []
    for i, individual in enumerate(run.animal_names):
        for coord, column in (("x", run.xy[:, i, 0]), ("y", run.xy[:, i, 1]), ("likelihood", run.score[:, i])):
            columns.append((SCORER, individual, NODE, coord))
            values.append(column)
    header = pd.MultiIndex.from_tuples(columns, names=["scorer", "individuals", "bodyparts", "coords"])
    table = pd.DataFrame(np.column_stack(values) if values else None, index=run.frames, columns=header)
    table.to_csv(path)
    return [path]
