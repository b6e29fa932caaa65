"""``movement`` datasets saved as netCDF: poses (the centroid) and bounding boxes (each mask's box).

Both are built with movement's own constructors (``load_poses.from_numpy``, ``load_bboxes.from_numpy``),
so they pass its validators and open with ``xarray.open_dataset`` as movement datasets. The time
coordinate is in seconds from the video's timestamps where they are known (variable frame rates
included), in frames otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .run_data import NODE, SOFTWARE, RunData, label_boxes


def write_movement(run: RunData, folder: Path) -> list[Path]:
    from movement.io import load_bboxes, load_poses  # a heavy import, only when this format is asked for

    poses = load_poses.from_numpy(
        position_array=run.xy.transpose(0, 2, 1)[:, :, None, :],  # (time, space, keypoints, individuals)
        confidence_array=run.score[:, None, :],
        individual_names=run.animal_names, keypoint_names=[NODE], fps=run.fps, source_software=SOFTWARE,
    )
    boxes = label_boxes(run)  # (frames, animals, 4) x_min, y_min, x_max, y_max
    bboxes = load_bboxes.from_numpy(
        position_array=((boxes[..., :2] + boxes[..., 2:]) / 2).transpose(0, 2, 1),  # box centres
        shape_array=(boxes[..., 2:] - boxes[..., :2]).transpose(0, 2, 1),  # width, height
        confidence_array=run.score, individual_names=run.animal_names,
        frame_array=run.frames[:, None], fps=run.fps, source_software=SOFTWARE,
    )
    written = []
    for kind, dataset in (("poses", poses), ("bboxes", bboxes)):
        dataset = _timed(dataset, run)
        path = folder / f"{run.name}_{kind}.nc"
        dataset.to_netcdf(path)
        written.append(path)
    return written


def _timed(dataset, run: RunData):
    """The video's own times on the time axis, its frame numbers beside them; no None attributes (netCDF)."""
    if run.times_s is not None:
        dataset = dataset.assign_coords(time=run.times_s)
        dataset.attrs["time_unit"] = "seconds"
    dataset = dataset.assign_coords(frame=("time", run.frames))
    dataset.attrs["video_path"] = run.video_path
    dataset.attrs = {key: value for key, value in dataset.attrs.items() if value is not None}
    return dataset.assign(position=dataset.position.astype(np.float64))
