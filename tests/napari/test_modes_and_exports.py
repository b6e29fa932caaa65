"""The widget's mode choice (clicks, detector + tracker, detector-prompted) runs what the command line
runs with the same options; its exports write tracks.csv with frame times and the field's formats."""

from __future__ import annotations

import csv

import av
import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend
from tests.cli.test_linked_tracking import clip_with_boxes
from tests.io.test_exports import FPS, write_clip_video

PLUGIN = "napari-sam2-longvideo"


@pytest.fixture(scope="module")
def boxes_clip(tmp_path_factory):
    """A generated clip as a frame folder, and truth-derived boxes (shuffled, 10% missed, false ones)."""
    return clip_with_boxes(tmp_path_factory.mktemp("clip"), num_frames=40)


@pytest.mark.parametrize(("mode", "flags"), [
    ("linked", ["--link", "botsort"]),
    ("detector", []),
])
def test_a_detector_mode_runs_what_the_command_line_runs(
    viewer, widget, boxes_clip, wait_for_run, errors_shown, mode, flags, tmp_path
):
    clip, video, boxes = boxes_clip
    common = ["--detections", str(boxes), "--animals", "2", "--backend", "contrast", "--chunk-size", "20"]
    assert main(["track", str(video), *common, *flags, "--out", str(tmp_path / "cli"), "--quiet"]) == 0

    viewer.open(video, plugin=PLUGIN)
    widget.mode.value = mode
    assert not widget.prompts.enabled and widget.video.enabled  # no clicks read in this mode, the video is
    widget.track()
    assert "needs a detector: choose a 'YOLO model' file or a 'boxes CSV'" in errors_shown[-1]
    fields = widget.form.widgets
    fields["detections"].value = boxes
    widget.track()
    assert "set 'animals' under Detector" in errors_shown[-1]
    fields["animals"].value, fields["backend"].value, fields["chunk_size"].value = 2, "contrast", 20
    if flags:
        fields["link"].value = flags[1]
        assert widget.mode.value == "linked"
    widget.out.value = tmp_path / "widget"
    widget.track()
    wait_for_run(widget)
    assert widget.status.text().startswith("Done"), widget.status.text()
    labels = tifffile.imread(tmp_path / "widget" / "labels.tif")
    np.testing.assert_array_equal(labels, tifffile.imread(tmp_path / "cli" / "labels.tif"))
    assert set(np.unique(labels)) == {0, 1, 2}

    widget.mode.value = "clicks"  # back to clicks: no link, the prompts read again
    assert fields["link"].value == "none" and widget.prompts.enabled


def test_a_reopened_linked_run_shows_its_mode(viewer, widget, boxes_clip, tmp_path):
    _clip, video, boxes = boxes_clip
    assert main(["track", str(video), "--detections", str(boxes), "--animals", "2", "--link", "bytetrack",
                 "--backend", "contrast", "--out", str(tmp_path / "run"), "--quiet", "--max-frames", "10"]) == 0
    viewer.open(tmp_path / "run", plugin=PLUGIN)
    assert widget.mode.value == "linked" and widget.form.widgets["link"].value == "bytetrack"
    assert widget.form.widgets["animals"].value == 2


@pytest.fixture
def video_run(viewer, widget, wait_for_run, tmp_path):
    """A finished truth-backend run of a 25 frames/s video opened in the viewer."""
    clip = crossing_ellipses(num_frames=20, height=48, width=64)
    video = write_clip_video(clip, tmp_path / "clip.mp4")
    viewer.open(video, plugin=PLUGIN)
    layer = widget.make_prompts_layer()
    layer.add([[0, y, x] for _f, y, x, _a, _p in clip.center_prompts(0)])
    layer.features["animal"] = [1, 2]
    widget.backend_factory = lambda settings: TruthBackend(clip)
    widget.form.widgets["chunk_size"].value = 10
    widget.out.value = tmp_path / "run"
    widget.track()
    wait_for_run(widget)
    assert widget.status.text().startswith("Done")
    return tmp_path / "run"


def test_export_tracks_writes_the_frame_times(widget, video_run, tmp_path):
    exported = widget.export_tracks(tmp_path / "elsewhere.csv")
    rows = list(csv.DictReader(exported.open()))
    assert [float(row["time_s"]) for row in rows if row["animal"] == "1"] == pytest.approx(
        [frame / FPS for frame in range(20)], abs=1e-6
    )
    assert exported.read_text() == (video_run / "tracks.csv").read_text()
    (video_run / "tracks.csv").unlink()  # a run not finished yet has none: the times come from the video
    assert widget.export_tracks(tmp_path / "again.csv").read_text() == exported.read_text()


def test_the_export_menu_writes_each_format(widget, video_run, qtbot):
    menu = widget.exports.formats_button.menu()
    titles = [action.text() for action in menu.actions() if action.text()]
    assert titles == ["SLEAP analysis (.h5)", "DeepLabCut (.csv)", "NWB with ndx-pose (.nwb)",
                      "movement (netCDF .nc)", "COCO instance masks (.json)", "all of them", "overlay video (.mp4)"]
    button = widget.exports.formats_button
    menu.actions()[0].trigger()  # SLEAP, written in a thread worker: the button says so meanwhile
    assert not button.isEnabled() and button.text() == "Exporting sleap…"
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=60_000)
    assert button.text() == "Export as…"
    assert [path.suffix for path in (video_run / "exports").iterdir()] == [".h5"]
    written = widget.export_formats(["dlc", "coco"])
    assert sorted(path.suffix for path in written) == [".csv", ".json"]
    assert all(path.parent == video_run / "exports" and path.stat().st_size for path in written)
    next(action for action in menu.actions() if action.text() == "overlay video (.mp4)").trigger()
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=60_000)
    with av.open(str(video_run / "exports" / "clip_overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20


def test_an_export_that_fails_in_the_background_says_why_and_frees_the_button(widget, video_run, errors_shown,
                                                                              qtbot, tmp_path):
    import json

    metadata = json.loads((video_run / "run.json").read_text())
    moved = dict(metadata, video=dict(metadata["video"], path=str(tmp_path / "gone.mp4")))
    (video_run / "run.json").write_text(json.dumps(moved))
    widget.exports.export_in_background(["overlay"])
    qtbot.waitUntil(lambda: widget.exports.formats_button.isEnabled(), timeout=60_000)
    assert "is not there" in errors_shown[-1] and "Put it back" in errors_shown[-1]
    assert not list((video_run / "exports").glob("*.mp4"))


def test_exporting_before_any_run_says_what_to_do(widget, errors_shown, tmp_path):
    widget.out.value = tmp_path / "nothing"
    assert widget.export_formats(["sleap"]) == []
    assert "Nothing is tracked in" in errors_shown[-1] and "--" not in errors_shown[-1]


@pytest.mark.parametrize(("fmt", "source_software"), [
    ("sleap", "SLEAP"), ("dlc", "DeepLabCut"), ("movement", "movement (netCDF)"),
])
def test_the_exports_open_in_movements_own_napari_plugin(viewer, widget, video_run, fmt, source_software):
    """What the issue promises: the files open in movement's widget, docked from its manifest, with each
    animal's points where tracks.csv puts its centroid."""
    from movement.napari.loader_widgets import DataLoader

    written = widget.export_formats([fmt])
    path = next(p for p in written if p.suffix in (".h5", ".csv", ".nc") and "bbox" not in p.name)
    _dock, movement_widget = viewer.window.add_plugin_dock_widget("movement", "movement")
    loader = movement_widget.findChild(DataLoader)
    loader.source_software_combo.setCurrentText(source_software)
    loader.fps_spinbox.setValue(FPS)
    loader.file_path_edit.setText(str(path))
    before = set(viewer.layers)
    loader.load_button.click()
    points = next(layer for layer in viewer.layers if layer not in before and layer._type_string == "points")
    # movement's points: (frame, y, x) per individual, in order of the individuals
    rows = list(csv.DictReader((video_run / "tracks.csv").open()))
    expected = sorted((int(r["frame"]), round(float(r["centroid_y"]), 2), round(float(r["centroid_x"]), 2))
                      for r in rows if r["lost"] == "0")
    shown = sorted((int(t), round(float(y), 2), round(float(x), 2)) for t, y, x in points.data)
    assert shown == expected
