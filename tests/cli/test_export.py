"""`sam2-longvideo export`, run as a user runs it, on contrast runs of a generated clip and of the real clip."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from napari_sam2_longvideo.cli import EXIT_USER_ERROR, main
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder
from tests.cli.test_track import cli, write_prompts
from tests.real_data import REAL_360P

REAL_PROMPTS = [(0, 60, 185, 1, 1), (0, 250, 275, 2, 1)]


@pytest.fixture(scope="module")
def contrast_run(tmp_path_factory):
    """A finished contrast run of a generated clip given as a folder of frames (which has no frame rate)."""
    folder = tmp_path_factory.mktemp("export-cli")
    clip = crossing_ellipses(num_frames=24, height=72, width=96)
    frames = write_frame_folder(clip, folder / "frames")
    prompts = folder / "clicks.csv"
    write_prompts(prompts, clip.center_prompts(0))
    out = folder / "run"
    args = ["track", frames, "--prompts", prompts, "--out", out, "--backend", "contrast", "--chunk-size", "10"]
    assert main([*map(str, args), "--quiet"]) == 0
    return out


def sleap_positions(path, fps=None):
    from movement.io import load_dataset

    return load_dataset(path, source_software="SLEAP", fps=fps)


def tracks_xy(run, animal):
    table = pd.read_csv(run / "tracks.csv")
    return table[table["animal"] == animal].sort_values("frame")[["centroid_x", "centroid_y"]].to_numpy()


def test_export_writes_the_formats_asked_into_out(contrast_run, tmp_path):
    out = tmp_path / "exported"
    code, stdout, stderr = cli("export", contrast_run, "--to", "sleap", "dlc", "--to", "movement",
                               "--fps", "25", "--out", out)
    assert code == 0, stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frames.analysis.h5", "framesDLC_sam2longvideo.csv", "frames_bboxes.nc", "frames_poses.nc"]
    assert all(str(out / name) in stdout for name in names)
    ds = sleap_positions(out / "frames.analysis.h5")
    for animal in (1, 2):
        np.testing.assert_allclose(ds.position.sel(individuals=f"animal{animal}").values[:, :, 0],
                                   tracks_xy(contrast_run, animal), rtol=1e-6)
    poses = xr.open_dataset(out / "frames_poses.nc")
    np.testing.assert_allclose(poses.time.values, np.arange(24) / 25)  # --fps: frame / fps
    poses.close()


def test_export_all_goes_to_run_exports_by_default(contrast_run):
    code, _, stderr = cli("export", contrast_run, "--to", "all", "--fps", "25")
    assert code == 0, stderr
    written = sorted(p.name for p in (contrast_run / "exports").iterdir())
    assert written == ["frames.analysis.h5", "frames.nwb", "framesDLC_sam2longvideo.csv", "frames_bboxes.nc",
                       "frames_coco.json", "frames_poses.nc"]


def test_the_overlay_made_from_the_run_folder_shows_its_labels_as_corrected(contrast_run, tmp_path):
    import av

    from napari_sam2_longvideo.io.frames import open_frames
    from napari_sam2_longvideo.io.overlay import draw_labels
    from napari_sam2_longvideo.io.store import LabelStore

    run = tmp_path / "run"
    shutil.copytree(contrast_run, run, ignore=shutil.ignore_patterns("exports"))
    before = np.asarray(LabelStore.open(run, read_only=True)[20])
    assert main(["swap", str(run), "1", "2", "--from", "12"]) == 0
    code, stdout, stderr = cli("export", run, "--to", "overlay")
    assert code == 0, stderr
    overlay = run / "exports" / "frames_overlay.mp4"
    assert str(overlay) in stdout
    with av.open(str(overlay)) as container:
        shown = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(shown) == 24
    frame = open_frames(json.loads((run / "run.json").read_text())["video"]["path"]).read(20)
    after = np.asarray(LabelStore.open(run, read_only=True)[20])
    assert (after == np.where(before == 1, 2, np.where(before == 2, 1, before))).all()

    def distance(labels):
        return np.abs(shown[20].astype(int) - draw_labels(frame, labels, {}).astype(int)).mean()

    assert distance(after) < distance(before)  # the swapped colours, not those tracked


def test_the_overlay_of_a_run_whose_video_has_moved_says_so(contrast_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(contrast_run, run, ignore=shutil.ignore_patterns("exports"))
    metadata = json.loads((run / "run.json").read_text())
    metadata["video"]["path"] = str(tmp_path / "moved")
    (run / "run.json").write_text(json.dumps(metadata))
    assert main(["export", str(run), "--to", "overlay"]) == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert f"The run's video {tmp_path / 'moved'} is not there" in error and "Put it back" in error


def test_nwb_of_an_input_without_a_frame_rate_asks_for_fps(contrast_run, tmp_path):
    code, _, stderr = cli("export", contrast_run, "--to", "nwb", "--out", tmp_path / "nwb")
    assert code == EXIT_USER_ERROR
    assert "no frame rate" in stderr and "--fps" in stderr and "Traceback" not in stderr
    assert not any((tmp_path / "nwb").iterdir())  # nothing half-written


def test_export_of_a_folder_that_is_not_a_finished_run_exits_2_naming_it(contrast_run, tmp_path, capsys):
    assert main(["export", str(tmp_path), "--to", "sleap"]) == EXIT_USER_ERROR
    assert f"{tmp_path} is not a run folder" in capsys.readouterr().err

    stopped = tmp_path / "stopped"
    shutil.copytree(contrast_run, stopped, ignore=shutil.ignore_patterns("exports"))
    metadata = json.loads((stopped / "run.json").read_text())
    (stopped / "run.json").write_text(json.dumps(dict(metadata, status="stopped", chunks_done=2)))
    assert main(["export", str(stopped), "--to", "all"]) == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert "is not finished (status 'stopped', 2 of 3 chunks)" in error and "run the same" in error
    assert not (stopped / "exports").exists()


def test_a_metadata_file_nwb_does_not_understand_exits_2(contrast_run, tmp_path, capsys):
    meta = tmp_path / "meta.yaml"
    meta.write_text("subjects:\n  - id: 1\n")
    args = ["export", str(contrast_run), "--to", "nwb", "--fps", "25", "--nwb-metadata", str(meta)]
    assert main(args) == EXIT_USER_ERROR
    assert "must hold a `session:` and/or a `subject:`" in capsys.readouterr().err


def test_an_unknown_format_is_refused_by_the_parser(contrast_run, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["export", str(contrast_run), "--to", "excel"])
    assert stopped.value.code == 2 and "invalid choice: 'excel'" in capsys.readouterr().err


@pytest.mark.skipif(not REAL_360P.exists(), reason="the shared two-mice clip is not here")
def test_the_real_clip_exported_to_every_format(tmp_path):
    import ndx_pose  # noqa: F401 - registers the extension's types for reading
    from pycocotools.coco import COCO
    from pynwb import NWBHDF5IO

    prompts = tmp_path / "clicks.csv"
    write_prompts(prompts, REAL_PROMPTS)
    run = tmp_path / "run"
    assert main(["track", str(REAL_360P), "--prompts", str(prompts), "--out", str(run), "--backend", "contrast",
                 "--quiet"]) == 0
    code, _, stderr = cli("export", run, "--to", "all")
    assert code == 0, stderr
    exports = run / "exports"
    table = pd.read_csv(run / "tracks.csv")
    times = table[table["animal"] == 1].sort_values("frame")["time_s"].to_numpy()
    assert len(times) == 1198 and times[-1] == pytest.approx(1197 / 30, abs=1e-3)

    ds = sleap_positions(exports / "two_mice_360p.analysis.h5", fps=30)
    from movement.io import load_dataset

    dlc = load_dataset(exports / "two_mice_360pDLC_sam2longvideo.csv", source_software="DeepLabCut", fps=30)
    poses = xr.open_dataset(exports / "two_mice_360p_poses.nc")
    np.testing.assert_allclose(poses.time.values, times)
    with NWBHDF5IO(str(exports / "two_mice_360p.nwb"), "r") as io:
        nwb = io.read()
        for animal in (1, 2):
            xy = tracks_xy(run, animal)
            name = f"animal{animal}"
            np.testing.assert_allclose(ds.position.sel(individuals=name).values[:, :, 0], xy, rtol=1e-6)
            np.testing.assert_allclose(dlc.position.sel(individuals=name).values[:, :, 0], xy, rtol=1e-6)
            np.testing.assert_array_equal(poses.position.sel(individuals=name).values[:, :, 0], xy)
            series = nwb.processing["behavior"][name].pose_estimation_series["centroid"]
            np.testing.assert_array_equal(series.data[:], xy)
            assert series.rate == pytest.approx(30, rel=1e-3)
    poses.close()
    coco = COCO(str(exports / "two_mice_360p_coco.json"))
    assert len(coco.getImgIds()) == 1198
    assert len(coco.getAnnIds()) == int((table["lost"] == 0).sum())
