"""``sam2-longvideo batch``, run as a user runs it: exit codes, batch.csv, a worker killed mid-batch."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_sam2_longvideo.cli import main
from tests.batch_setup import (
    CONTRAST,
    DaskServers,
    assert_same_results,
    read_batch_csv,
    single_runs,
    write_clips,
    write_manifest,
)


def batch_command(*args) -> list[str]:
    return [str(Path(sys.executable).with_name("sam2-longvideo")), "batch", *map(str, args)]


def test_one_unreadable_video_among_five_fails_alone_and_the_exit_code_says_so(tmp_path):
    pairs = write_clips(tmp_path / "clips", 4)
    broken = tmp_path / "clips" / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    manifest = write_manifest(tmp_path / "manifest.csv", pairs[:2] + [(broken, pairs[0][1])] + pairs[2:])
    done = subprocess.run(batch_command(manifest, "--out", tmp_path / "runs", *CONTRAST), check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    assert "4 of 5 videos finished" in done.stdout
    assert f"failed: broken ({broken})" in done.stderr and "not a video PyAV can open" in done.stderr
    table = read_batch_csv(tmp_path / "runs" / "batch.csv")
    assert [row["status"] for row in table.values()] == ["finished", "finished", "failed", "finished", "finished"]
    assert "not a video PyAV can open" in table["broken"]["error"] and str(broken) in table["broken"]["error"]
    assert all(table[name]["error"] == "" and int(table[name]["frames"]) == 40 for name in table if name != "broken")
    assert not (tmp_path / "runs" / "broken").exists()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_then_the_batch_rerun_gives_the_uninterrupted_labels(tmp_path):
    # long enough (at 10 frames a chunk) that the worker is killed inside a video, not between two
    pairs = write_clips(tmp_path / "clips", 4, num_frames=240, height=144, width=192)
    references = single_runs(pairs, tmp_path / "single")
    manifest = write_manifest(tmp_path / "manifest.csv", pairs)
    runs = tmp_path / "runs"
    with DaskServers(tmp_path / "dask") as servers:
        worker = servers.start_worker()
        batch = subprocess.Popen(batch_command(manifest, "--out", runs, "--scheduler", servers.address, *CONTRAST),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the first video finished and the second one part way: a chunk of it saved
        first, second = runs / "clip0" / "run.json", runs / "clip1" / "store" / "index.json"
        deadline = time.time() + 300
        while not (first.exists() and json.loads(first.read_text())["status"] == "finished"
                   and second.exists() and json.loads(second.read_text())["done"]):
            assert time.time() < deadline and batch.poll() is None, batch.communicate()
            time.sleep(0.01)
        worker.kill()
        worker.wait()
        statuses = [json.loads(p.read_text())["status"] if p.exists() else None
                    for p in (runs / f"clip{i}" / "run.json" for i in range(4))]
        assert statuses[0] == "finished" and "running" in statuses, statuses  # killed inside a video

        time.sleep(1)  # the batch waits for a worker that will not come back: stop it as a user would
        batch.send_signal(signal.SIGINT)
        _, stderr = batch.communicate(timeout=120)
        assert batch.returncode == 130, stderr
        table = read_batch_csv(runs / "batch.csv")
        # clip0 may read "stopped" too: its task's answer was still on the killed worker
        assert {row["status"] for row in table.values()} <= {"finished", "stopped"}
        assert "stopped" in {row["status"] for row in table.values()}

        servers.start_worker()
        assert main(["batch", str(manifest), "--out", str(runs), "--scheduler", servers.address, *CONTRAST]) == 0
    assert {row["status"] for row in read_batch_csv(runs / "batch.csv").values()} == {"finished"}
    for name, reference in references.items():
        assert_same_results(runs / name, reference)


def test_an_unknown_manifest_column_is_named_before_anything_runs(tmp_path, capsys):
    pairs = write_clips(tmp_path / "clips", 1)
    manifest = write_manifest(tmp_path / "manifest.csv", pairs, {"chunksize": ["8"]})
    assert main(["batch", str(manifest), "--out", str(tmp_path / "runs"), *CONTRAST]) == 2
    error = capsys.readouterr().err
    assert "'chunksize'" in error and str(manifest) in error and "chunk_size" in error
    assert not (tmp_path / "runs").exists()


def test_a_bad_setting_in_a_manifest_row_names_its_line(tmp_path, capsys):
    pairs = write_clips(tmp_path / "clips", 2)
    manifest = write_manifest(tmp_path / "manifest.csv", pairs, {"chunk-size": ["8", "1"]})
    assert main(["batch", str(manifest), "--out", str(tmp_path / "runs"), *CONTRAST]) == 2
    error = capsys.readouterr().err
    assert "Manifest line 3 (clip1)" in error and "--chunk-size 1 is too small" in error


def test_slurm_needs_sbatch(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    pairs = write_clips(tmp_path / "clips", 1)
    manifest = write_manifest(tmp_path / "manifest.csv", pairs)
    assert main(["batch", str(manifest), "--out", str(tmp_path / "runs"), "--slurm", *CONTRAST]) == 2
    assert "sbatch" in capsys.readouterr().err


def test_help_lists_where_the_videos_run_and_the_track_options():
    done = subprocess.run(batch_command("--help"), check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--workers", "--scheduler", "--slurm", "--slurm-queue", "--slurm-gpus", "--slurm-memory",
                   "--slurm-walltime", "--slurm-jobs", "--chunk-size", "--backend"):
        assert option in done.stdout


def test_a_scheduler_that_does_not_answer_is_named(tmp_path, capsys):
    pairs = write_clips(tmp_path / "clips", 1)
    manifest = write_manifest(tmp_path / "manifest.csv", pairs)
    address = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    assert main(["batch", str(manifest), "--out", str(tmp_path / "runs"), "--scheduler", address, *CONTRAST]) == 2
    error = capsys.readouterr().err
    assert f"Cannot reach the Dask scheduler at {address}" in error and "dask scheduler" in error
