"""``track --detections --link ... --animals N`` without clicks: truth-derived boxes, shuffled, with misses
and false boxes, through ultralytics' real trackers and the contrast backend."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.core.geometry import mask_box
from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder


def noisy_boxes(truth, seed=0, miss=0.1, false_per_frame=1):
    """Boxes of every visible animal, in shuffled order, 10% missed, plus false boxes away from the animals."""
    rng = np.random.default_rng(seed)
    rows = []
    height, width = truth.shape[1:]
    for frame, labels in enumerate(truth):
        found = []
        for animal in np.unique(labels[labels > 0]):
            box = mask_box(labels == animal)
            if rng.random() >= miss:
                found.append((*box, rng.uniform(0.7, 0.95)))
        for _ in range(false_per_frame):
            corner = rng.integers(0, 2)  # top-left or bottom-right corner, where no animal goes
            x0 = rng.uniform(0, 8) if corner == 0 else width - 14 - rng.uniform(0, 8)
            y0 = rng.uniform(0, 6) if corner == 0 else height - 10 - rng.uniform(0, 6)
            found.append((x0, y0, x0 + 12, y0 + 8, rng.uniform(0.3, 0.6)))
        for i in rng.permutation(len(found)):
            rows.append((frame, *found[i], 0, "mouse"))
    return rows


def ious(labels, truth, frame, mapping):
    return [
        np.logical_and(labels[frame] == a, truth[frame] == e).sum()
        / max(1, np.logical_or(labels[frame] == a, truth[frame] == e).sum())
        for a, e in mapping.items()
    ]


def clip_with_boxes(folder, num_frames=60):
    """A generated clip written as a frame folder into ``folder``, and its truth-derived `noisy_boxes`
    as a detections file: (clip, frames folder, boxes file)."""
    clip = crossing_ellipses(num_frames=num_frames)
    video = write_frame_folder(clip, folder / "frames")
    boxes = write_detections_csv(folder / "boxes.csv", noisy_boxes(clip.truth))
    return clip, video, boxes


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return clip_with_boxes(tmp_path_factory.mktemp("clip"))


@pytest.mark.parametrize("link", ["bytetrack", "botsort"])
def test_linked_boxes_keep_two_identities_through_the_crossing(tmp_path, clip_folder, link):
    clip, video, boxes = clip_folder
    out = tmp_path / "out"
    code = main(["track", str(video), "--detections", str(boxes), "--link", link, "--animals", "2",
                 "--backend", "contrast", "--chunk-size", "20", "--out", str(out), "--quiet"])
    assert code == 0
    labels = tifffile.imread(out / "labels.tif")
    truth = clip.truth
    # which label is which ellipse, from the first frame; it must hold to the end
    first = {a: np.bincount(truth[0][labels[0] == a], minlength=3)[1:].argmax() + 1 for a in (1, 2)}
    assert sorted(first.values()) == [1, 2]
    apart = [f for f in range(len(truth)) if abs(clip.centers[f, 0, 1] - clip.centers[f, 1, 1]) > 40]
    assert len(apart) > 20 and apart[0] < 20 and apart[-1] > 40  # frames before and after the crossing
    for frame in apart:
        assert min(ious(labels, truth, frame, first)) >= 0.9, frame
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["animal"] for r in rows} == {"1", "2"}
    tracked = [r for r in rows if r["track_id"] != "-1"]  # frames where the animal's box was linked
    assert len(tracked) > 0.8 * len(rows) and all(0 < float(r["track_score"]) <= 1 for r in tracked)
    assert {r["class_name"] for r in tracked} == {"mouse"}
    assert {r["class_name"] for r in rows if r["track_id"] == "-1"} <= {""}


def test_ignored_tracks_are_flagged_in_run_json(tmp_path, clip_folder):
    import json

    clip, video, boxes = clip_folder
    rows = [tuple(r) for r in csv.reader(open(boxes))][1:]
    # a still object, found on every frame, less surely than the animals
    rows += [(str(f), "2", "80", "14", "92", "0.5", "0", "mouse") for f in range(len(clip.truth))]
    persistent = write_detections_csv(tmp_path / "more.csv", [(int(r[0]), *map(float, r[1:6]), int(r[6]), r[7]) for r in rows])
    out = tmp_path / "out"
    assert main(["track", str(video), "--detections", str(persistent), "--link", "bytetrack", "--animals", "2",
                 "--backend", "contrast", "--out", str(out), "--quiet"]) == 0
    ignored = json.loads((out / "run.json").read_text())["ignored_tracks"]
    assert list(ignored.values())[-1][1] == len(clip.truth) - 1  # ignored to the end
    labels = tifffile.imread(out / "labels.tif")
    assert not labels[10:, 80:92, 2:14].any()  # the still object has no label (once an animal was seen)


def run_cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_link_needs_a_detector(tmp_path, clip_folder, capsys):
    clip, video, boxes = clip_folder
    code, err = run_cli(["track", str(video), "--link", "bytetrack", "--animals", "2", "--backend", "contrast",
                         "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--link bytetrack links a detector's boxes: give --detector" in err
    assert not (tmp_path / "o").exists()


def test_no_prompts_needs_a_detector_and_animals(tmp_path, clip_folder, capsys):
    clip, video, boxes = clip_folder
    code, err = run_cli(["track", str(video), "--backend", "contrast", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "Give --prompts" in err
    code, err = run_cli(["track", str(video), "--detections", str(boxes), "--link", "botsort",
                         "--backend", "contrast", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "needs --animals N" in err


def test_fewer_animals_than_prompted_is_refused(tmp_path, clip_folder, capsys):
    from napari_sam2_longvideo.io.prompts import Prompts

    clip, video, boxes = clip_folder
    prompts = tmp_path / "prompts.csv"
    Prompts(clip.center_prompts()).to_csv(prompts)
    code, err = run_cli(["track", str(video), "--prompts", str(prompts), "--detections", str(boxes),
                         "--animals", "1", "--backend", "contrast", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--animals 1 is fewer than the 2 animals prompted" in err
    code, err = run_cli(["track", str(video), "--prompts", str(prompts), "--detections", str(boxes),
                         "--link", "bytetrack", "--animals", "2", "--backend", "contrast",
                         "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "leave out the prompts" in err


def test_a_detector_that_finds_nothing_says_so(tmp_path, clip_folder, capsys):
    clip, video, boxes = clip_folder
    code, err = run_cli(["track", str(video), "--detections", str(boxes), "--detector-conf", "0.99",
                         "--link", "bytetrack", "--animals", "2", "--backend", "contrast",
                         "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "The detector found nothing in the whole of" in err


def test_linked_run_resumes_to_the_same_result(tmp_path, clip_folder):
    clip, video, boxes = clip_folder
    args = ["track", str(video), "--detections", str(boxes), "--link", "bytetrack", "--animals", "2",
            "--backend", "contrast", "--chunk-size", "20", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "whole")]) == 0
    assert main(args + ["--max-frames", "40", "--out", str(tmp_path / "part")]) == 0
    assert main(args + ["--out", str(tmp_path / "part")]) == 0  # longer: goes on from frame 40
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "part" / "labels.tif"),
                                  tifffile.imread(tmp_path / "whole" / "labels.tif"))
    assert (tmp_path / "part" / "tracks.csv").read_bytes() == (tmp_path / "whole" / "tracks.csv").read_bytes()


def test_animals_without_clicks_start_where_the_detector_finds_them_all(tmp_path, clip_folder):
    """The SAM2-LongVideo mode without clicks: the first frame with N boxes prompts, then chunks as usual."""
    import json

    clip, video, boxes = clip_folder
    rows = [r for r in csv.reader(open(boxes))][1:]
    # the detector sees only one animal before frame 7: the run starts there
    rows = [r for r in rows if int(r[0]) >= 7 or float(r[1]) < 60 or float(r[5]) < 0.65]
    late = write_detections_csv(tmp_path / "late.csv", [(int(r[0]), *map(float, r[1:6]), int(r[6]), r[7]) for r in rows])
    out = tmp_path / "out"
    assert main(["track", str(video), "--detections", str(late), "--detector-conf", "0.65", "--animals", "2",
                 "--backend", "contrast", "--chunk-size", "20", "--out", str(out), "--quiet"]) == 0
    run = json.loads((out / "run.json").read_text())
    start = run["start_boxes"]["frame"]
    assert start >= 7 and run["animals"] == [1, 2]
    labels = tifffile.imread(out / "labels.tif")
    mapping = {1: 1, 2: 2}  # animals numbered left to right: ellipse 1 starts on the left
    # the frames before the start are filled backward from it, as for a click on a later frame
    apart = [f for f in range(len(clip.truth)) if abs(clip.centers[f, 0, 1] - clip.centers[f, 1, 1]) > 40]
    assert apart[-1] > 40
    for frame in apart:
        assert min(ious(labels, clip.truth, frame, mapping)) >= 0.9, frame


def test_without_clicks_a_detector_must_find_every_animal_once(tmp_path, clip_folder, capsys):
    clip, video, boxes = clip_folder
    code, err = run_cli(["track", str(video), "--detections", str(boxes), "--animals", "5", "--backend", "contrast",
                         "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "never finds 5 animals on one frame" in err
    assert not (tmp_path / "o").exists()


def test_detections_reanchor_a_click_prompted_run(tmp_path, clip_folder):
    from napari_sam2_longvideo.io.prompts import Prompts

    clip, video, boxes = clip_folder
    prompts = tmp_path / "prompts.csv"
    Prompts(clip.center_prompts()).to_csv(prompts)
    out = tmp_path / "out"
    assert main(["track", str(video), "--prompts", str(prompts), "--detections", str(boxes), "--detector-conf", "0.65",
                 "--backend", "contrast", "--chunk-size", "20", "--out", str(out), "--quiet"]) == 0
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    starts = [r for r in rows if r["frame"] in ("20", "40")]
    assert sum(r["detector_conf"] != "" for r in starts) >= 3  # boxes assigned at the chunk starts
    assert {r["frame"] for r in rows if r["detector_conf"] != ""} <= {"20", "40"}


@pytest.mark.slow
def test_linked_boxes_prompt_sam2(tmp_path):
    """The box-prompt path through SAM2 (random weights: the masks mean nothing, the plumbing does).

    No box is missed: an animal first prompted after a chunk's first frame makes SAM2 on the CPU fail
    (its memory is stored in bfloat16 and read without autocast), with clicks as with boxes.
    """
    clip = crossing_ellipses(num_frames=12, height=64, width=96)
    video = write_frame_folder(clip, tmp_path / "frames")
    boxes = write_detections_csv(tmp_path / "boxes.csv", noisy_boxes(clip.truth, miss=0.0))
    out = tmp_path / "out"
    assert main(["track", str(video), "--detections", str(boxes), "--link", "bytetrack", "--animals", "2",
                 "--chunk-size", "6", "--random-weights", "--image-size", "256", "--device", "cpu", "--quiet",
                 "--out", str(out)]) == 0
    labels = tifffile.imread(out / "labels.tif")
    assert labels.shape == clip.truth.shape and set(np.unique(labels)) <= {0, 1, 2}
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(clip.truth)
    assert all(r["track_id"] != "-1" for r in rows)
    assert {r["class_name"] for r in rows if r["track_id"] != "-1"} == {"mouse"}


def test_more_animals_than_prompted_are_found_by_the_detector(tmp_path, clip_folder):
    from napari_sam2_longvideo.io.prompts import Prompts

    clip, video, boxes = clip_folder
    prompts = tmp_path / "prompts.csv"
    Prompts(clip.center_prompts()[:1]).to_csv(prompts)  # only ellipse 1 clicked
    out = tmp_path / "out"
    assert main(["track", str(video), "--prompts", str(prompts), "--detections", str(boxes), "--detector-conf", "0.65",
                 "--animals", "2", "--backend", "contrast", "--chunk-size", "20", "--out", str(out), "--quiet"]) == 0
    labels = tifffile.imread(out / "labels.tif")
    assert not (labels[:20] == 2).any()  # unknown in the first chunk
    assert ious(labels, clip.truth, 45, {1: 1, 2: 2})[1] >= 0.9  # found at a chunk start, as ellipse 2
