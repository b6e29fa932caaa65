"""``track --overlay OUT.mp4``: the labels drawn on the frames, one overlay frame per frame tracked."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.io.overlay import draw_labels, label_colour
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    clip = crossing_ellipses(num_frames=24, height=72, width=96)
    prompts = folder / "prompts.csv"
    prompts.write_text("frame,y,x,animal,positive\n" + "".join(
        f"{f},{y:.1f},{x:.1f},{a},1\n" for f, y, x, a, _ in clip.center_prompts(0)))
    return write_frame_folder(clip, folder / "frames"), prompts


def decoded(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_track_writes_an_overlay_of_the_labels_with_a_frame_per_frame(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    overlay = tmp_path / "overlay.mp4"
    out = tmp_path / "out"
    assert main(["track", str(frames), "--prompts", str(prompts), "--backend", "contrast", "--chunk-size", "10",
                 "--overlay", str(overlay), "--out", str(out), "--quiet"]) == 0
    assert f"Wrote the overlay video {overlay}" in capsys.readouterr().out
    video = decoded(overlay)
    assert len(video) == 24
    labels = tifffile.imread(out / "labels.tif")
    # the overlay is the frames with the labels drawn on, up to the video codec's loss
    from PIL import Image

    first = np.asarray(Image.open(frames / "frame0.png").convert("RGB"))
    expected = draw_labels(first, labels[0], {})
    assert np.abs(video[0].astype(int) - expected).mean() < 6
    outline = (expected != first).any(axis=2) & (expected == label_colour(1)).all(axis=2)
    assert outline.sum() > 20 and np.abs(video[0][outline].astype(int) - label_colour(1)).mean() < 40
    assert json.loads((out / "run.json").read_text())["overlay"] == str(overlay)


def test_a_resumed_run_may_add_an_overlay_and_a_bad_path_is_refused_first(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    out = tmp_path / "out"
    base = ["track", str(frames), "--prompts", str(prompts), "--backend", "contrast", "--out", str(out), "--quiet"]
    assert main([*base, "--overlay", str(tmp_path / "overlay.webm")]) == 2
    assert "overlay.webm" in capsys.readouterr().err and not out.exists()
    assert main(base) == 0
    assert main([*base, "--overlay", str(tmp_path / "later.mp4")]) == 0  # the overlay changes no label
    assert len(decoded(tmp_path / "later.mp4")) == 24
