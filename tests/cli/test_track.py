"""The command line, run as a user runs it: `sam2-longvideo track ...` with SAM2's random weights."""

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask.array
import numpy as np
import pytest
import tifffile
import zarr

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.cli import track as cli_track
from napari_sam2_longvideo.io.run_folder import LOCK_FILES, OUR_FILES, OUR_FOLDERS, RunFolder
from napari_sam2_longvideo.io.run_lock import LOCK_FILE
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.testing.synthetic import (
    crossing_ellipses,
    write_frame_folder,
)
from tests.real_data import REAL_360P

FAST = ["--random-weights", "--image-size", "256", "--device", "cpu", "--quiet"]
REAL_CLIP = REAL_360P


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    """A generated clip written as a folder of PNG frames, and its prompts CSV."""
    folder = tmp_path_factory.mktemp("clip")
    clip = crossing_ellipses(num_frames=24, height=72, width=96)
    frames = write_frame_folder(clip, folder / "frames")
    prompts = folder / "clicks.csv"
    write_prompts(prompts, clip.center_prompts(0))
    return frames, prompts


def write_prompts(path, rows, header="frame,y,x,animal,positive"):
    lines = [header] + [",".join(str(int(v) if isinstance(v, bool) else v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def cli(*args):
    """Run the installed console script; return (exit code, stdout, stderr)."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sam2-longvideo")), *map(str, args)],
        capture_output=True, text=True, timeout=600,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_track_writes_labels_tracks_and_run_metadata(tmp_path, clip_files):
    frames, prompts = clip_files
    out = tmp_path / "run1"
    code, stdout, stderr = cli("track", frames, "--prompts", prompts, "--out", out, "--chunk-size", "10", *FAST)
    assert code == 0, stderr
    assert "labels.tif" in stdout
    # sam2 built without its optional CUDA kernel warns about it on every run; that is not for the user
    assert "_C" not in stderr and "post-processing" not in stderr, stderr

    labels = tifffile.imread(out / "labels.tif")
    assert labels.shape == (24, 72, 96) and labels.dtype == np.uint8
    with tifffile.TiffFile(out / "labels.tif") as tif:
        assert len(tif.pages) == 24 and tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    np.testing.assert_array_equal(labels, LabelStore.open(out)[:])

    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 * 2
    assert list(rows[0]) == [
        "frame", "animal", "area", "centroid_y", "centroid_x", "score", "lost", "merged", "prompted",
        "reanchored", "detector_conf", "jumped", "time_s", "track_id", "class_id", "track_score", "class_name",
    ]
    assert {r["time_s"] for r in rows} == {""}  # a folder of frames has no frame rate
    assert {r["class_name"] for r in rows} == {""}  # clicks, not a detector
    assert {r["animal"] for r in rows} == {"1", "2"}

    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["chunks_done"] == run["chunks"] == 3
    assert run["settings"]["chunk_size"] == 10 and run["settings"]["random_weights"] is True
    assert run["backend"]["checkpoint"] is None and run["backend"]["config"].endswith("sam2.1_hiera_t.yaml")
    assert run["versions"]["sam2"] == "1.1.0" and run["versions"]["torch"]
    assert run["video"]["num_frames"] == 24


@pytest.mark.slow
def test_ctrl_c_stops_after_the_chunk_and_the_same_command_resumes_to_the_same_result(tmp_path, clip_files):
    frames, prompts = clip_files
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    args = [str(a) for a in ["--prompts", prompts, "--chunk-size", "6", *FAST]]
    # every run a command of its own, as a user runs them: an in-process run would inherit the thread
    # settings earlier tests left behind (ultralytics sets some), and SAM2's floats with them
    command = [str(Path(sys.executable).with_name("sam2-longvideo")), "track", str(frames), *args, "--out"]
    finished = subprocess.run([*command, str(whole)], capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr

    process = subprocess.Popen([*command, str(parted)], stderr=subprocess.PIPE, text=True)
    index = parted / "store" / "index.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (index.exists() and json.loads(index.read_text())["done"]):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Run the same command again to resume" in stderr
    done = json.loads(index.read_text())["done"]
    assert 1 <= len(done) < 4
    assert json.loads((parted / "run.json").read_text())["status"] == "stopped"
    assert not (parted / "labels.tif").exists()

    resumed = subprocess.run([*command, str(parted)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    np.testing.assert_array_equal(tifffile.imread(parted / "labels.tif"), tifffile.imread(whole / "labels.tif"))
    assert (parted / "tracks.csv").read_text() == (whole / "tracks.csv").read_text()


@pytest.mark.slow
def test_other_settings_in_an_existing_folder_are_refused_unless_overwriting(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    out = tmp_path / "run"
    base = ["track", str(frames), "--prompts", str(prompts), "--out", str(out), *FAST]
    assert main([*base, "--chunk-size", "12"]) == 0
    capsys.readouterr()

    assert main([*base, "--chunk-size", "8"]) == 2
    message = capsys.readouterr().err
    assert "holds a run of other settings (chunk_size 12 -> 8)" in message and "--overwrite" in message

    other_video = tmp_path / "other.tif"
    tifffile.imwrite(other_video, np.zeros((24, 72, 96), np.uint8))
    assert main(["track", str(other_video), *base[2:], "--chunk-size", "12"]) == 2
    assert "a different video" in capsys.readouterr().err

    assert main([*base, "--chunk-size", "8", "--overwrite"]) == 0
    assert json.loads((out / "run.json").read_text())["chunks"] == 3


class StopRequestedAtOnce(cli_track.StopAfterChunk):
    """Ctrl-C pressed before the first chunk ends, without the race of a real signal."""

    def __enter__(self):
        super().__enter__()
        self.requested = True
        return self


def test_a_stopped_contrast_run_resumes_whatever_sam2_settings_are_given(tmp_path, clip_files, capsys, monkeypatch):
    frames, prompts = clip_files
    base = ["track", str(frames), "--prompts", str(prompts), "--backend", "contrast", "--chunk-size", "6", "--quiet"]
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    assert main([*base, "--out", str(whole)]) == 0

    with monkeypatch.context() as patch:
        patch.setattr(cli_track, "StopAfterChunk", StopRequestedAtOnce)
        assert main([*base, "--out", str(parted)]) == 130
    assert "Stopped after chunk 1 of 4: 6 of 24 frames are saved" in capsys.readouterr().err
    assert json.loads((parted / "run.json").read_text())["status"] == "stopped"

    # a change the contrast backend reads is refused, and leaves the stopped run as it was
    assert main([*base, "--out", str(parted), "--threshold", "40"]) == 2
    assert "holds a run of other settings (threshold None -> 40.0)" in capsys.readouterr().err
    assert json.loads((parted / "run.json").read_text())["chunks_done"] == 1

    # SAM2's model and image size mean nothing to it: the run resumes, to the uninterrupted result
    assert main([*base, "--out", str(parted), "--model", "small", "--image-size", "512", "--device", "cpu"]) == 0
    assert "Wrote" in capsys.readouterr().out
    np.testing.assert_array_equal(tifffile.imread(parted / "labels.tif"), tifffile.imread(whole / "labels.tif"))
    assert (parted / "tracks.csv").read_text() == (whole / "tracks.csv").read_text()
    assert json.loads((parted / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
@pytest.mark.skipif(not REAL_CLIP.exists(), reason="the shared two-mice clip is not here")
def test_first_60_frames_of_the_real_clip(tmp_path):
    prompts = tmp_path / "clicks.csv"
    write_prompts(prompts, [(0, 60, 185, 1, True), (0, 250, 275, 2, True)])
    out = tmp_path / "run1"
    code, _, stderr = cli(
        "track", REAL_CLIP, "--prompts", prompts, "--out", out, "--chunk-size", "20", "--max-frames", "60", *FAST
    )
    assert code == 0, stderr
    assert tifffile.imread(out / "labels.tif").shape == (60, 360, 640)
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 120 and {r["animal"] for r in rows} == {"1", "2"}
    assert json.loads((out / "run.json").read_text())["video"]["first_frames"] == 60


# --- bad input: each gets a message naming the thing and what to do, and exit code 2 ----------------

def run_bad(capsys, *args):
    code = main([*map(str, args)])
    assert code == 2
    return capsys.readouterr().err


def test_missing_video(tmp_path, clip_files, capsys):
    _, prompts = clip_files
    err = run_bad(capsys, "track", tmp_path / "nope.mp4", "--prompts", prompts, "--out", tmp_path / "o", *FAST)
    assert "nope.mp4" in err


def test_prompts_with_wrong_columns(tmp_path, clip_files, capsys):
    frames, _ = clip_files
    bad = tmp_path / "bad.csv"
    bad.write_text("t,row,col,id\n0,1,2,1\n")
    err = run_bad(capsys, "track", frames, "--prompts", bad, "--out", tmp_path / "o", *FAST)
    assert f"Prompts file {bad} lacks the column(s) frame, y, x, animal, positive" in err
    assert "frame,y,x,animal,positive" in err


@pytest.mark.parametrize(
    "row, message",
    [
        ((0, 10, 500, 1, True), r"point \(y=10, x=500\) is outside the image"),
        ((99, 10, 10, 1, True), "frame 99 is past the end of .* which has 24 frames"),
        ((0, 10, 10, 1, False), "animal 1 has only negative points"),
    ],
)
def test_unusable_prompts(tmp_path, clip_files, capsys, row, message):
    frames, _ = clip_files
    prompts = tmp_path / "p.csv"
    write_prompts(prompts, [row, (0, 30, 30, 2, True)])
    err = run_bad(capsys, "track", frames, "--prompts", prompts, "--out", tmp_path / "o", *FAST)
    assert re.search(message, err), err


def test_unknown_model_name(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    with pytest.raises(SystemExit) as exit_info:
        main(["track", str(frames), "--prompts", str(prompts), "--out", str(tmp_path / "o"), "--model", "huge"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_checkpoint_that_is_not_a_sam2_checkpoint(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not weights")
    err = run_bad(
        capsys, "track", frames, "--prompts", prompts, "--out", tmp_path / "o", "--checkpoint", junk,
        "--image-size", "256", "--device", "cpu", "--quiet",
    )
    assert f"Checkpoint {junk} is not a PyTorch checkpoint" in err


def test_output_folder_not_writable(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = run_bad(capsys, "track", frames, "--prompts", prompts, "--out", blocker / "out", *FAST)
    assert f"Cannot write to the output folder {blocker / 'out'}" in err


@pytest.mark.slow
def test_a_frame_that_fails_to_decode_names_the_frame_and_keeps_finished_chunks(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    broken = tmp_path / "broken"
    broken.mkdir()
    for png in frames.iterdir():
        (broken / png.name).write_bytes(png.read_bytes())
    damaged = broken / "frame15.png"
    damaged.write_bytes(damaged.read_bytes()[:100])
    out = tmp_path / "o"
    err = run_bad(capsys, "track", broken, "--prompts", prompts, "--out", out, "--chunk-size", "6", *FAST)
    assert "frame 15" in err and "frame15.png" in err
    assert LabelStore.open(out).done_chunks == [0, 1]
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_help_says_random_weights_are_for_tests_only():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sam2-longvideo")), "track", "--help"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0
    assert "FOR TESTS AND BENCHMARKS ONLY" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not REAL_CLIP.exists(), reason="the shared two-mice clip is not here")
def test_train_detector_on_the_first_200_frames_of_the_real_clip(tmp_path):
    prompts = tmp_path / "clicks.csv"
    write_prompts(prompts, [(0, 60, 185, 1, True), (0, 250, 275, 2, True)])
    out = tmp_path / "run"
    code, _, stderr = cli(
        "track", REAL_CLIP, "--prompts", prompts, "--out", out, "--max-frames", "200", "--chunk-size", "50",
        "--train-detector", "--train-frames", "50", "--detector-epochs", "1", "--detector-imgsz", "320", *FAST,
    )
    assert code == 0, stderr
    assert (out / "detector.pt").stat().st_size > 1_000_000
    assert (out / "detector_metrics.csv").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["settings"]["train_detector"]
    assert tifffile.imread(out / "labels.tif").shape == (200, 360, 640)


def test_the_readme_sample_command_falls_back_to_the_contrast_backend_offline(tmp_path):
    """README's first command on a machine that cannot download SAM2's weights."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = {**os.environ, "SAM2_LONGVIDEO_CACHE": str(tmp_path / "empty-cache"),
           "SAM2_LONGVIDEO_BASE_URL": f"http://127.0.0.1:{closed}"}
    out = tmp_path / "sample"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sam2-longvideo")), "sample", "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "SAM2 weights are not available" in done.stderr and "--checkpoint PATH" in done.stderr
    assert "contrast backend" in done.stderr
    assert tifffile.imread(out / "labels.tif").shape == (60, 360, 640)
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 120
    visible = [r for r in rows if r["lost"] == "0"]
    assert len(visible) >= 100 and {r["animal"] for r in visible} == {"1", "2"}
    # The mice touch and pass around frame 24 (checked frame by frame by eye, tails included): animal 1,
    # prompted at the top, comes out of it on the right and goes down; animal 2 on the left and goes up.
    where = {(int(r["frame"]), int(r["animal"])): (float(r["centroid_y"]), float(r["centroid_x"])) for r in visible}
    assert where[28, 1][1] > where[28, 2][1] + 50 and where[40, 1][0] > where[40, 2][0] + 100
    assert json.loads((out / "run.json").read_text())["settings"]["backend"] == "contrast"


# === one run per folder, and inputs checked before anything is written ==============================

# (a section of its own, added with the folder lock)

SAM2_CLI = str(Path(sys.executable).with_name("sam2-longvideo"))
CONTRAST = ["--backend", "contrast", "--quiet"]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """A 1000-frame generated clip as one TIFF stack, and its prompts: at two frames a chunk the contrast
    backend takes a few seconds on it, long enough to catch a run in the middle."""
    folder = tmp_path_factory.mktemp("long")
    clip = crossing_ellipses(num_frames=1000, height=72, width=96)
    video = folder / "clip.tif"
    tifffile.imwrite(video, clip.frames, photometric="rgb")
    prompts = folder / "clicks.csv"
    write_prompts(prompts, clip.center_prompts(0))
    return video, prompts


def start_track(video, prompts, out, log, *extra):
    """The command in a process of its own; its output goes to the file ``log`` (not a pipe, which the
    contrast backend's worker process would keep open if the run were killed)."""
    with open(log, "w") as handle:
        return subprocess.Popen(
            [SAM2_CLI, "track", str(video), "--prompts", str(prompts), "--out", str(out), "--chunk-size", "2",
             *CONTRAST, *map(str, extra)],
            stdout=handle, stderr=subprocess.STDOUT, text=True,
        )


def stop_when_a_chunk_is_done(process, out, log) -> dict:
    """Wait until the run in ``process`` has finished a chunk, then freeze it (SIGSTOP) in the middle of
    the run, so what follows does not depend on how fast this machine is. Returns its run.json."""
    deadline = time.time() + 300
    while time.time() < deadline:
        assert process.poll() is None, Path(log).read_text()
        try:
            run = json.loads((out / "run.json").read_text())
        except (OSError, ValueError):  # not written yet
            run = {}
        if run.get("status") == "running" and run.get("chunks_done", 0) >= 1:
            process.send_signal(signal.SIGSTOP)
            run = json.loads((out / "run.json").read_text())
            assert run["status"] == "running" and run["chunks_done"] < run["chunks"], "it finished first"
            return run
        time.sleep(0.01)
    raise AssertionError("the first run never got going")


def test_a_second_run_on_a_folder_in_use_is_refused_at_once_and_the_first_finishes(tmp_path, long_clip):
    import socket

    video, prompts = long_clip
    out, log = tmp_path / "shared", tmp_path / "first.log"
    first = start_track(video, prompts, out, log)
    try:
        stop_when_a_chunk_is_done(first, out, log)
        for extra in ([], ["--overwrite"]):  # --overwrite must not clear a folder another run holds
            started = time.time()
            code, _, stderr = cli("track", video, "--prompts", prompts, "--out", out, "--chunk-size", "2",
                                  *CONTRAST, *extra)
            assert code == 2, stderr
            assert time.time() - started < 20
            assert f"Output folder {out} is in use by another run" in stderr
            assert f"process {first.pid} on host {socket.gethostname()}" in stderr
            assert "Traceback" not in stderr
            assert json.loads((out / "run.json").read_text())["status"] == "running"
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, log.read_text()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["chunks_done"] == run["chunks"] == 500
    assert tifffile.imread(out / "labels.tif").shape == (1000, 72, 96)
    assert not (out / ".lock-holder.json").exists()


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path, long_clip):
    import psutil

    video, prompts = long_clip
    out, log = tmp_path / "killed", tmp_path / "first.log"
    first = start_track(video, prompts, out, log)
    stop_when_a_chunk_is_done(first, out, log)
    workers = psutil.Process(first.pid).children(recursive=True)
    first.kill()  # SIGKILL: no finally block runs, the lock file and its holder's note stay behind
    first.wait(timeout=60)
    try:
        assert json.loads((out / ".lock-holder.json").read_text())["pid"] == first.pid
        assert json.loads((out / "run.json").read_text())["status"] == "running"
        code, _, stderr = cli("track", video, "--prompts", prompts, "--out", out, "--chunk-size", "2", *CONTRAST)
    finally:
        for worker in workers:  # the contrast backend's worker outlives a killed run; it is ours to end
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
    assert code == 0, stderr
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert tifffile.imread(out / "labels.tif").shape == (1000, 72, 96)
    assert not (out / ".lock-holder.json").exists()


def test_the_lock_is_released_after_a_run_that_failed(tmp_path, clip_files, capsys):
    from napari_sam2_longvideo.io.run_lock import RunLock

    frames, prompts = clip_files
    broken = tmp_path / "broken"
    broken.mkdir()
    for png in frames.iterdir():
        (broken / png.name).write_bytes(png.read_bytes())
    (broken / "frame9.png").write_bytes((broken / "frame9.png").read_bytes()[:100])
    out = tmp_path / "o"
    err = run_bad(capsys, "track", broken, "--prompts", prompts, "--out", out, "--chunk-size", "6", *CONTRAST)
    assert "frame 9" in err
    assert LabelStore.open(out).done_chunks == [0]  # finished chunks are kept
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    with RunLock(out):  # taken at once: the failed run let go
        pass
    assert main(["track", str(frames), "--prompts", str(prompts), "--out", str(out), "--chunk-size", "6",
                 *CONTRAST, "--overwrite"]) == 0


def test_a_run_that_fails_before_finishing_a_chunk_leaves_no_store(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    broken = tmp_path / "broken"
    broken.mkdir()
    for png in frames.iterdir():
        (broken / png.name).write_bytes(png.read_bytes())
    (broken / "frame3.png").write_bytes((broken / "frame3.png").read_bytes()[:100])
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own")
    err = run_bad(capsys, "track", broken, "--prompts", prompts, "--out", out, "--chunk-size", "6", *CONTRAST)
    assert "frame 3" in err
    assert not (out / "store").exists() and not (out / "run.json").exists()
    assert (out / "notes.txt").read_text() == "the user's own"


def test_out_that_is_a_file_is_named_as_one(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    target = tmp_path / "results.tif"
    target.write_bytes(b"someone's file")
    err = run_bad(capsys, "track", frames, "--prompts", prompts, "--out", target, *CONTRAST)
    assert f"--out {target} is a file, not a folder" in err
    assert target.read_bytes() == b"someone's file"


def test_a_prompt_past_max_frames_blames_the_limit_not_the_video(tmp_path, clip_files, capsys):
    frames, _ = clip_files
    prompts = tmp_path / "p.csv"
    write_prompts(prompts, [(0, 30, 30, 1, True), (15, 30, 60, 2, True)])
    out = tmp_path / "o"
    err = run_bad(capsys, "track", frames, "--prompts", prompts, "--out", out, "--max-frames", "10", *CONTRAST)
    assert "frame 15 is past --max-frames 10: the run is limited to the first 10 frames" in err
    assert "has 10 frames" not in err and not out.exists()


@pytest.mark.parametrize("kind", ["missing", "not a YOLO model"])
@pytest.mark.parametrize("chunk_size", ["100", "6"])  # one chunk (once accepted silently) and several
def test_a_bad_detector_is_refused_before_any_frame_is_tracked(tmp_path, clip_files, capsys, kind, chunk_size):
    frames, prompts = clip_files
    detector = tmp_path / "yolo.pt"
    if kind != "missing":
        detector.write_bytes(b"not a model")
    out = tmp_path / "o"
    err = run_bad(capsys, "track", frames, "--prompts", prompts, "--out", out, "--chunk-size", chunk_size,
                  "--detector", detector, *CONTRAST)
    assert f"Detector weights {detector}" in err
    assert not out.exists()  # no labels, no store: the folder this run would have made is not left either


def test_a_checkpoint_that_does_not_exist_is_refused_before_the_folder_is_made(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    out = tmp_path / "o"
    err = run_bad(capsys, "track", frames, "--prompts", prompts, "--out", out,
                  "--checkpoint", tmp_path / "nope.pt", "--image-size", "256", "--device", "cpu", "--quiet")
    assert f"Checkpoint {tmp_path / 'nope.pt'} does not exist" in err
    assert not out.exists()
# --- the run folder: labels.zarr, labels.tif, starting over, extending -------------------------------

def test_a_contrast_run_writes_labels_zarr_equal_to_a_tyx_labels_tif(tmp_path, clip_files):
    frames, prompts = clip_files
    out = tmp_path / "run"
    command = ["track", str(frames), "--prompts", str(prompts), "--out", str(out), "--chunk-size", "10"]
    assert main([*command, *CONTRAST]) == 0
    with tifffile.TiffFile(out / "labels.tif") as tif:
        assert tif.series[0].axes == "TYX" and tif.is_imagej
        labels = tif.asarray()
    assert labels.shape == (24, 72, 96) and labels.any()
    np.testing.assert_array_equal(zarr.open_array(out / "labels.zarr", mode="r")[:], labels)
    np.testing.assert_array_equal(dask.array.from_zarr(str(out / "labels.zarr")).compute(), labels)
    assert {p.name for p in out.iterdir()} <= {*OUR_FILES, *OUR_FOLDERS, LOCK_FILE}  # every name is listed


def test_overwrite_removes_every_file_of_the_earlier_run_and_only_those(tmp_path, clip_files, monkeypatch):
    frames, prompts = clip_files
    out = tmp_path / "run"
    command = ["track", str(frames), "--prompts", str(prompts), "--out", str(out), *CONTRAST]
    assert main(command) == 0
    assert {"contrast.json", "contrast_tracks.npz", "background.npy", "labels.zarr"} <= {p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("the user's own")
    (out / "tracks.csv.4242-17.partial").write_text("a write killed half-way")  # write_atomically's leftover
    left = []
    clear = RunFolder.clear

    def clear_and_look(folder):
        clear(folder)
        left.append(sorted(p.name for p in folder.path.iterdir()))

    monkeypatch.setattr(RunFolder, "clear", clear_and_look)
    assert main([*command, "--overwrite", "--chunk-size", "8"]) == 0
    assert left[0] == [*LOCK_FILES, "notes.txt"]  # the lock is the new run's own
    assert json.loads((out / "run.json").read_text())["chunks"] == 3


def test_a_longer_max_frames_extends_the_earlier_run_and_a_shorter_one_is_refused(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    out = tmp_path / "run"
    command = ["track", str(frames), "--prompts", str(prompts), "--out", str(out), "--chunk-size", "8", *CONTRAST]
    assert main([*command, "--max-frames", "12"]) == 0
    first = tifffile.imread(out / "labels.tif")
    records = LabelStore.open(out).chunk_records(1)
    assert first.shape == (12, 72, 96)

    assert main(command) == 0  # all 24 frames: goes on from frame 12
    store = LabelStore.open(out)
    assert [(c.start, c.stop) for c in store.chunks] == [(0, 8), (8, 12), (12, 16), (16, 24)] and store.complete
    assert store.chunk_records(1).tobytes() == records.tobytes()  # kept, not tracked again
    labels = tifffile.imread(out / "labels.tif")
    assert labels.shape == (24, 72, 96) and labels[12:].any()
    np.testing.assert_array_equal(labels[:12], first)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["chunks"] == 4 and "first_frames" not in run["video"]
    capsys.readouterr()

    assert main([*command, "--max-frames", "20"]) == 2
    message = capsys.readouterr().err
    assert "holds a run of 24 frames, more than the 20 asked for now (--max-frames" in message
    assert "--overwrite" in message


def test_a_run_folder_of_an_earlier_version_is_refused_with_what_to_do(tmp_path, clip_files, capsys):
    frames, prompts = clip_files
    out = tmp_path / "run"
    command = ["track", str(frames), "--prompts", str(prompts), "--out", str(out), *CONTRAST]
    assert main(command) == 0
    shutil.rmtree(out / "labels.zarr")
    shutil.rmtree(out / "store")
    (out / "store").mkdir()
    (out / "store" / "store.json").write_text('{"format": 2}')
    (out / "store" / "chunk_00000.npz").write_bytes(b"")
    capsys.readouterr()
    assert main(command) == 2
    message = capsys.readouterr().err
    assert str(out) in message and "earlier version" in message and "Re-run with --overwrite" in message
    assert main([*command, "--overwrite"]) == 0
    assert not (out / "store" / "store.json").exists()
