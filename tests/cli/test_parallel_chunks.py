"""``track --parallel-chunks``: the chunks of a video as Dask tasks on a local cluster, each prompted by
its boxes, joined into the sequential run's identities."""

from __future__ import annotations

import json

import numpy as np
import pandas
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.io.prompts import Prompts
from tests.cli.test_linked_tracking import clip_with_boxes

PARALLEL = ["--parallel-chunks", "--workers", "2"]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return clip_with_boxes(tmp_path_factory.mktemp("clip"))


def track(video, boxes, out, *options):
    return main(["track", str(video), "--detections", str(boxes), "--animals", "2", "--backend", "contrast",
                 "--chunk-size", "20", "--out", str(out), "--quiet", *options])


def test_parallel_chunks_keep_the_sequential_identities_and_differ_only_where_the_animals_touch(tmp_path, clip_folder):
    clip, video, boxes = clip_folder
    assert track(video, boxes, tmp_path / "seq") == 0
    assert track(video, boxes, tmp_path / "par", *PARALLEL) == 0
    sequential, parallel = (tifffile.imread(tmp_path / name / "labels.tif") for name in ("seq", "par"))
    # the animals cross in the second chunk: the third chunk's own numbers (left to right) are the other way
    # round, and the join must give them back
    first_x = {a: clip.centers[40, a - 1, 1] for a in (1, 2)}
    assert first_x[1] > first_x[2]
    differing = {f: int((sequential[f] != parallel[f]).sum()) for f in range(len(clip.truth))}
    differing = {f: n for f, n in differing.items() if n}
    tracks = {name: pandas.read_csv(tmp_path / name / "tracks.csv") for name in ("seq", "par")}
    touching = set(tracks["seq"].loc[tracks["seq"]["merged"] == 1, "frame"])
    assert set(differing) <= touching, (differing, touching)  # measured: 1 pixel on 2 of the 60 frames
    assert sum(differing.values()) <= 0.01 * sum((sequential[f] > 0).sum() for f in differing)
    seq, par = (tracks[name][~tracks[name]["frame"].isin(touching)] for name in ("seq", "par"))
    # the same rows where the animals are apart, but for the re-anchored flag: every chunk is prompted by boxes
    columns = [c for c in seq.columns if c != "reanchored"]
    pandas.testing.assert_frame_equal(seq[columns].reset_index(drop=True), par[columns].reset_index(drop=True))
    run = json.loads((tmp_path / "par" / "run.json").read_text())
    assert run["parallel_chunks"] is True and run["status"] == "finished"


def test_a_stopped_parallel_run_resumes_to_the_same_result_and_not_sequentially(tmp_path, clip_folder):
    _, video, boxes = clip_folder
    assert track(video, boxes, tmp_path / "whole", *PARALLEL) == 0
    assert track(video, boxes, tmp_path / "part", "--max-frames", "40", *PARALLEL) == 0
    assert track(video, boxes, tmp_path / "part", "--workers", "1", "--parallel-chunks") == 0  # goes on from 40
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "part" / "labels.tif"),
                                  tifffile.imread(tmp_path / "whole" / "labels.tif"))
    assert (tmp_path / "part" / "tracks.csv").read_bytes() == (tmp_path / "whole" / "tracks.csv").read_bytes()
    assert track(video, boxes, tmp_path / "seq", "--max-frames", "40") == 0
    assert track(video, boxes, tmp_path / "seq", *PARALLEL) == 2  # a sequential run is not resumed in parallel


def test_parallel_chunks_are_refused_where_the_chunks_are_not_prompted_by_a_detector(tmp_path, clip_folder, capsys):
    clip, video, boxes = clip_folder
    prompts = tmp_path / "prompts.csv"
    Prompts(clip.center_prompts()).to_csv(prompts)
    out = tmp_path / "o"
    base = ["track", str(video), "--backend", "contrast", "--chunk-size", "20", "--out", str(out), "--quiet",
            "--parallel-chunks", "--workers", "1"]
    assert main(base + ["--prompts", str(prompts)]) == 2
    assert "without a detector, each chunk starts from the masks of the one before" in capsys.readouterr().err
    assert main(base + ["--detections", str(boxes), "--link", "bytetrack", "--animals", "2"]) == 2
    assert "--link bytetrack links the boxes through the whole video in order" in capsys.readouterr().err
    late = tmp_path / "late.csv"
    Prompts(clip.center_prompts() + [(25, 30.0, 40.0, 1, True)]).to_csv(late)
    assert main(base + ["--prompts", str(late), "--detections", str(boxes)]) == 2
    assert "clicks on frame 25, after the first chunk" in capsys.readouterr().err
    assert not out.exists()
    assert main(base[:-3] + ["--prompts", str(prompts), "--workers", "2"]) == 2
    assert "--workers and --scheduler say where --parallel-chunks runs the chunks" in capsys.readouterr().err
