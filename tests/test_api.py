"""The Python API as a script or notebook uses it: `napari_sam2_longvideo.track(...)` and the wrappers of a
finished run. The script without a ``__main__`` guard, on the real clip, is in tests/test_api_script.py."""

import json
import sys
import warnings

import dask.array
import numpy as np
import pandas as pd
import pytest
import tifffile

import napari_sam2_longvideo as sl
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.run_lock import HOLDER_FILE
from napari_sam2_longvideo.sample import sample_paths
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

FAST = dict(chunk_size=6, device="cpu", progress=False)


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=24, height=48, width=64)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    """The run from the prompts as a CSV file, which the other forms must equal."""
    folder = tmp_path_factory.mktemp("api")
    csv = folder / "clicks.csv"
    Prompts(clip.center_prompts(0)).to_csv(csv)
    result = sl.track(clip.frames, csv, folder / "csv", backend=TruthBackend(clip), **FAST)
    return csv, result


def test_the_package_imports_no_api_until_asked():
    import subprocess
    import sys

    code = "import sys, napari_sam2_longvideo as s; print('napari_sam2_longvideo.api' in sys.modules); s.track; " \
           "print('napari_sam2_longvideo.api' in sys.modules, 'track' in dir(s))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'trak'"):
        sl.trak  # noqa: B018


def test_the_result_has_the_files_the_lazy_labels_and_the_tracks(reference, clip):
    csv, result = reference
    assert result.frames_tracked == 24
    assert [p.name for p in (result.labels_path, result.zarr_path, result.tracks_path, result.run_path)] == [
        "labels.tif", "labels.zarr", "tracks.csv", "run.json"]
    assert all(p.exists() for p in (result.labels_path, result.zarr_path, result.tracks_path, result.run_path))
    assert isinstance(result.labels, dask.array.Array) and result.labels.shape == (24, 48, 64)
    np.testing.assert_array_equal(result.labels.compute(), tifffile.imread(result.labels_path))
    np.testing.assert_array_equal(result.labels[5].compute(), clip.truth[5])  # the truth backend is exact
    tracks = result.tracks
    assert isinstance(tracks, pd.DataFrame) and len(tracks) == 48
    assert tracks.equals(pd.read_csv(result.tracks_path))
    assert result.metadata["status"] == "finished"
    assert result.settings.chunk_size == 6


@pytest.mark.parametrize("form", ["dataframe", "tuples", "tuples_without_positive", "dicts", "prompts", "array"])
def test_every_form_of_prompts_gives_the_csv_files_result(reference, clip, tmp_path, form):
    csv, expected = reference
    rows = clip.center_prompts(0)
    prompts = {
        "dataframe": pd.read_csv(csv),
        "tuples": rows,
        "tuples_without_positive": [row[:4] for row in rows],
        "dicts": [dict(zip(("frame", "y", "x", "animal", "positive"), row)) for row in rows],
        "prompts": Prompts(rows),
        "array": np.array(rows, float),
    }[form]
    result = sl.track(clip.frames, prompts, tmp_path / form, backend=TruthBackend(clip), **FAST)
    np.testing.assert_array_equal(result.labels.compute(), expected.labels.compute())
    assert result.tracks_path.read_bytes() == expected.tracks_path.read_bytes()
    assert json.loads(result.run_path.read_text())["prompts"]["sha256"] == expected.metadata["prompts"]["sha256"]


def test_an_unknown_setting_names_the_valid_ones_and_writes_nothing(clip, tmp_path):
    with pytest.raises(UserInputError, match=r"Unknown setting\(s\) 'chunk_sise' \(did you mean 'chunk_size'\?\)"
                       r"\. The settings are: backend, model, .*chunk_size.*min_area") as error:
        sl.track(clip.frames, clip.center_prompts(0), tmp_path / "run", chunk_sise=6, progress=False)
    assert "max_frames" in str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("settings, message", [
    ({"chunk_size": "6"}, "chunk_size='6': give a whole number"),
    ({"max_frames": 2.5}, "max_frames=2.5: give a whole number or None"),
    ({"random_weights": 1}, "random_weights=1: give True or False"),
    ({"backend": "contrasts"}, "Unknown backend 'contrasts'; choose one of sam2, contrast"),
    ({"chunk_size": 1}, "--chunk-size 1 is too small"),
    ({"detector_classes": [0, "1"]}, "detector_classes=.*list of whole numbers"),
])
def test_bad_values_are_refused_as_the_command_line_refuses_them(clip, tmp_path, settings, message):
    with pytest.raises(UserInputError, match=message):
        sl.track(clip.frames, clip.center_prompts(0), tmp_path / "run", progress=False, **settings)
    assert not (tmp_path / "run").exists()


def test_settings_take_numpy_numbers_and_paths(tmp_path):
    from napari_sam2_longvideo.api import settings_from_keywords

    settings = settings_from_keywords(chunk_size=np.int64(8), threshold=np.float32(30), arena=tmp_path / "arena.png")
    assert (settings.chunk_size, settings.threshold, settings.arena) == (8, 30.0, str(tmp_path / "arena.png"))
    assert type(settings.chunk_size) is int


@pytest.mark.parametrize("prompts, message", [
    (pd.DataFrame({"frame": [0], "y": [3.0], "x": [4.0]}), "DataFrame lacks the column\\(s\\) animal"),
    ([(0, 3, 4)], "point 1 is \\(0, 3, 4\\): give \\(frame, y, x, animal\\)"),
    ([(0.5, 3, 4, 1)], "frame and animal are whole numbers"),
    ([{"frame": 0, "y": 3, "animal": 1}], "lacks x"),
    ([(0, 3, 4, 1, "yes")], "positive is True/1 or False/0"),
    (42, "give a CSV path, a DataFrame or a list"),
    (None, "track\\(\\) needs prompts"),
    ([(0, 300, 4, 1)], "outside the image"),  # the same check as the command line's, after the conversion
])
def test_bad_prompts_are_refused_with_what_to_give(clip, tmp_path, prompts, message):
    with pytest.raises(UserInputError, match=message):
        sl.track(clip.frames, prompts, tmp_path / "run", backend=TruthBackend(clip), **FAST)
    assert not (tmp_path / "run").exists()


def test_no_out_folder_is_refused(clip):
    with pytest.raises(UserInputError, match="needs out="):
        sl.track(clip.frames, clip.center_prompts(0), progress=False)


def interrupt_on_frame(monkeypatch, frame):
    """A notebook's interrupt (KeyboardInterrupt) while the caller shows frame ``frame``'s progress: between
    two events, outside the run's generator."""
    from napari_sam2_longvideo.engine.events import FrameTracked
    from napari_sam2_longvideo.progress import RunProgress

    update = RunProgress.update

    def interrupted(self, event):
        if isinstance(event, FrameTracked) and event.frame == frame:
            raise KeyboardInterrupt
        return update(self, event)

    monkeypatch.setattr(RunProgress, "update", interrupted)


def test_an_interrupted_run_is_resumed_by_the_same_call(reference, clip, tmp_path, monkeypatch):
    _, expected = reference
    out = tmp_path / "run"
    # the traceback kept, as IPython keeps it (sys.last_traceback), and with it the frames of track()
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt) as interrupted:
        interrupt_on_frame(patch, 15)  # in the third chunk
        sl.track(clip.frames, clip.center_prompts(0), out, backend=TruthBackend(clip), **FAST)
    result = sl.open_run(out)
    assert result.metadata["status"] == "stopped" and result.metadata["chunks_done"] == 2
    assert not (out / HOLDER_FILE).exists()  # the lock is released at once, not when the generator is collected

    resumed = sl.track(clip.frames, clip.center_prompts(0), out, backend=TruthBackend(clip), **FAST)
    assert resumed.frames_tracked == 24 - 12  # chunks 0 and 1 were kept
    np.testing.assert_array_equal(resumed.labels.compute(), expected.labels.compute())
    assert resumed.tracks_path.read_bytes() == expected.tracks_path.read_bytes()
    again = sl.track(clip.frames, clip.center_prompts(0), out, backend=TruthBackend(clip), **FAST)
    assert again.frames_tracked == 0  # finished: nothing to do
    assert interrupted.tb is not None


def test_progress_is_a_bar_on_stderr_and_nothing_when_off(clip, tmp_path, capfd):
    sl.track(clip.frames, clip.center_prompts(0), tmp_path / "quiet", backend=TruthBackend(clip), chunk_size=6,
             progress=False)
    assert capfd.readouterr() == ("", "")
    sl.track(clip.frames, clip.center_prompts(0), tmp_path / "shown", backend=TruthBackend(clip), chunk_size=6)
    out, err = capfd.readouterr()
    assert out == "" and "24/24 frames" in err and "chunk 4/4" in err


def test_the_progress_bar_is_tqdm_auto(clip, tmp_path, monkeypatch):
    """tqdm.auto is the notebook widget in Jupyter (with ipywidgets): the bar is made from it, whatever it is."""
    import types

    import tqdm.auto

    monkeypatch.setitem(sys.modules, "ipywidgets", types.ModuleType("ipywidgets"))
    made = []

    class Recording(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("total"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    sl.track(clip.frames, clip.center_prompts(0), tmp_path / "run", backend=TruthBackend(clip), chunk_size=6)
    assert made == [24]


def test_without_ipywidgets_the_bar_is_text_and_nothing_warns(monkeypatch):
    """tqdm.auto warns "IProgress not found" in a notebook without ipywidgets, and then draws text anyway."""
    import tqdm.std

    from napari_sam2_longvideo.api import _auto_tqdm

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets raises ImportError
    monkeypatch.delitem(sys.modules, "tqdm.auto", raising=False)
    monkeypatch.delitem(sys.modules, "tqdm.autonotebook", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _auto_tqdm() is tqdm.std.tqdm


@pytest.fixture
def sample_run(tmp_path):
    video, prompts = sample_paths()
    return sl.track(video, prompts, tmp_path / "sample", backend="contrast", progress=False)


def test_the_sample_through_the_api_equals_the_command_line(sample_run, tmp_path):
    from napari_sam2_longvideo.cli import main

    video, prompts = sample_paths()
    assert main(["track", str(video), "--prompts", str(prompts), "--out", str(tmp_path / "cli"),
                 "--backend", "contrast", "--quiet"]) == 0
    np.testing.assert_array_equal(tifffile.imread(sample_run.labels_path), tifffile.imread(tmp_path / "cli/labels.tif"))
    assert sample_run.tracks_path.read_bytes() == (tmp_path / "cli/tracks.csv").read_bytes()


def test_review_swap_undo_correct_and_export_of_a_finished_run(sample_run, tmp_path):
    before = sample_run.labels.compute()
    episodes = sample_run.review()
    assert list(episodes.columns) == ["rank", "start", "stop", "animals", "reason", "score"]
    assert len(episodes) and (sample_run.folder / "review.csv").exists()
    assert episodes.equals(sl.review(sample_run.folder))

    entry = sample_run.swap(1, 2, 30)
    assert entry["kind"] == "swap"
    after = sample_run.labels.compute()  # read again: the labels as the folder has them now
    np.testing.assert_array_equal(after[30:] == 1, before[30:] == 2)
    np.testing.assert_array_equal(after[:30], before[:30])
    assert sl.undo(sample_run.folder)["kind"] == "swap"
    np.testing.assert_array_equal(sample_run.labels.compute(), before)

    row = sample_run.tracks.query("frame == 40 and animal == 1").iloc[0]
    entry = sample_run.correct([(40, row.centroid_y, row.centroid_x, 1)], progress=False)
    assert entry["kind"] == "retrack" and entry["frame"] == 40
    assert sample_run.undo()["kind"] == "retrack"
    np.testing.assert_array_equal(sample_run.labels.compute(), before)

    painted = np.where(before[40] == 1, 2, np.where(before[40] == 2, 1, 0)).astype(before.dtype)
    entry = sample_run.correct(mask=painted, frame=40, to_end=True, progress=False)
    assert entry["painted"] and entry["animals"] == [1, 2]
    np.testing.assert_array_equal(sample_run.labels[40].compute(), painted)
    assert sample_run.undo()["kind"] == "retrack"
    with pytest.raises(UserInputError, match="prompts or a mask"):
        sample_run.correct()
    with pytest.raises(UserInputError, match="needs its frame"):
        sample_run.correct(mask=painted)

    written = sample_run.export(["dlc", "movement"], tmp_path / "exports")
    assert {p.suffix for p in written} >= {".csv", ".nc"} and all(p.exists() for p in written)
    with pytest.raises(UserInputError, match="no correction to undo"):
        sample_run.undo()
    with pytest.raises(UserInputError, match="holds no run"):
        sl.open_run(tmp_path / "nothing")
