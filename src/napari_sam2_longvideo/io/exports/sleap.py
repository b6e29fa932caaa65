"""SLEAP analysis HDF5: the file SLEAP's "Export Analysis HDF5" writes, with one node, the centroid.

The layout is that of ``sleap.info.write_tracking_h5`` with its default ``transpose=True`` (MATLAB
order): ``tracks`` is ``(n_tracks, 2, n_nodes, n_frames)``, ``track_occupancy`` ``(n_frames,
n_tracks)``, ``point_scores`` ``(n_tracks, n_nodes, n_frames)``, ``instance_scores`` and
``tracking_scores`` ``(n_tracks, n_frames)``, strings as fixed-length bytes, arrays gzip-compressed.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from .run_data import NODE, SOFTWARE, RunData

SUFFIX = ".analysis.h5"


def write_sleap(run: RunData, folder: Path) -> list[Path]:
    path = folder / f"{run.name}{SUFFIX}"
    locations = run.xy.transpose(1, 2, 0)[:, :, None, :]  # (tracks, 2, nodes, frames); NaN where lost
    occupied = ~run.lost  # (frames, tracks)
    point_scores = run.score.T[:, None, :]  # (tracks, nodes, frames)
    arrays = {
        "tracks": locations.astype(np.float64),
        "track_occupancy": occupied.astype(np.uint8),
        "point_scores": point_scores,
        "instance_scores": run.score.T.copy(),  # one node: the instance's score is the point's
        "tracking_scores": np.full(run.score.T.shape, np.nan),  # identities are kept, not scored per frame
    }
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=value, compression="gzip", compression_opts=9)
        handle.create_dataset("track_names", data=np.array(run.animal_names, dtype="S"))
        handle.create_dataset("node_names", data=np.array([NODE], dtype="S"))
        handle.create_dataset("edge_names", data=np.zeros((0, 2), dtype="S1"))
        handle.create_dataset("edge_inds", data=np.zeros((0, 2), dtype=np.int64))
        handle.create_dataset("video_path", data=run.video_path)
        handle.create_dataset("video_ind", data=0)
        handle.create_dataset("labels_path", data="")  # SLEAP: the .slp it came from; there is none
        handle.create_dataset("provenance", data=json.dumps({"software": SOFTWARE, "run": str(run.folder)}))
        if run.times_s is not None:  # not SLEAP's own; readers that do not know it pass it by
            handle.create_dataset("time_s", data=run.times_s)
    return [path]
