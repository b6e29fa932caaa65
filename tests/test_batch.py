"""`run_batch`: many videos on Dask, each equal to its single run; on a running scheduler and locally."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from distributed import Client

from napari_sam2_longvideo.batch import NO_PROMPTS, run_batch, slurm_cluster
from napari_sam2_longvideo.batch.clusters import worker_config_lines
from napari_sam2_longvideo.settings import TrackSettings
from tests.batch_setup import (
    DaskServers,
    assert_same_results,
    read_batch_csv,
    single_runs,
    write_clips,
    write_manifest,
)

CONTRAST = TrackSettings(backend="contrast", chunk_size=10)


def _tasks_the_scheduler_finished(client) -> int:
    return client.run_on_scheduler(
        lambda dask_scheduler: dask_scheduler.task_prefixes["track_video"].state_counts["memory"]
    )


def test_four_videos_on_a_running_scheduler_equal_their_single_runs_and_a_rerun_skips_them(tmp_path):
    pairs = write_clips(tmp_path / "clips", 4)
    # the third video's row sets its own chunk size, which its single run is given as an option
    manifest = write_manifest(tmp_path / "manifest.csv", pairs, {"chunk_size": ["", "", "8", ""]})
    references = single_runs(pairs[:2] + pairs[3:], tmp_path / "single")
    references.update(single_runs(pairs[2:3], tmp_path / "single", "--chunk-size", "8"))
    runs = tmp_path / "runs"
    with DaskServers(tmp_path / "dask") as servers:
        worker = servers.start_worker()
        rows = run_batch(manifest, runs, CONTRAST, scheduler=servers.address, progress=False)
        with Client(servers.address) as client:
            worker_address = next(iter(client.scheduler_info()["workers"]))
            assert _tasks_the_scheduler_finished(client) == 4
        assert [row["status"] for row in rows] == ["finished"] * 4, rows
        assert {row["worker"] for row in rows} == {worker_address}
        for name, reference in references.items():
            assert_same_results(runs / name, reference)
        assert json.loads((runs / "clip2" / "run.json").read_text())["settings"]["chunk_size"] == 8
        table = read_batch_csv(runs / "batch.csv")
        assert list(table) == ["clip0", "clip1", "clip2", "clip3"]
        assert table["clip0"]["frames"] == "40" and table["clip0"]["status"] == "finished"
        with open(runs / "clip0" / "tracks.csv", newline="") as handle:
            merged = sum(int(row["merged"]) for row in csv.DictReader(handle))
        assert merged > 0 and table["clip0"]["merged"] == str(merged)

        written = {name: (runs / name / "labels.tif").stat().st_mtime_ns for name in references}
        rerun = run_batch(manifest, runs, CONTRAST, scheduler=servers.address, progress=False)
        with Client(servers.address) as client:
            assert _tasks_the_scheduler_finished(client) == 8  # the checks ran there too
        assert [row["status"] for row in rerun] == ["finished"] * 4
        assert {name: (runs / name / "labels.tif").stat().st_mtime_ns for name in references} == written
        again = read_batch_csv(runs / "batch.csv")
        assert [row["seconds"] for row in again.values()] == [row["seconds"] for row in table.values()]
        assert worker.poll() is None


def test_a_folder_of_videos_with_a_missing_prompts_file_and_a_repeated_name(tmp_path):
    """The default local cluster: each video with NAME.csv runs, one without fails clearly, and a second
    video whose name (and so output folder) another already has fails without touching the first's."""
    (first, _), (second, second_prompts) = write_clips(tmp_path / "clips", 2)
    second_prompts.unlink()
    shutil.copy(first, first.with_suffix(".tiff"))  # clip0.tiff: the same name as clip0.tif
    rows = run_batch(tmp_path / "clips", tmp_path / "runs", CONTRAST, workers=1, progress=False)
    by_video = {row["video"]: row for row in rows}
    assert by_video[str(first)]["status"] == "finished"
    assert by_video[str(second)]["status"] == "failed" and by_video[str(second)]["error"] == NO_PROMPTS
    repeated = by_video[str(first.with_suffix(".tiff"))]
    assert repeated["status"] == "failed"
    assert "already that of manifest line" in repeated["error"] and "another name" in repeated["error"]
    table = list(read_batch_csv(tmp_path / "runs" / "batch.csv").values())
    assert len(table) == 2  # keyed by name: both clip0 rows share it
    assert not (tmp_path / "runs" / "clip1").exists()


def test_a_daemonic_worker_fails_contrast_videos_with_how_to_start_it(tmp_path):
    """`dask worker` with its nanny makes daemonic workers unless told otherwise: the message says how."""
    pairs = write_clips(tmp_path / "clips", 1)
    with DaskServers(tmp_path / "dask") as servers:
        servers.env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "True"
        servers.start_worker(nanny=True)
        (row,) = run_batch(write_manifest(tmp_path / "m.csv", pairs), tmp_path / "runs", CONTRAST,
                           scheduler=servers.address, progress=False)
    assert row["status"] == "failed" and "DASK_DISTRIBUTED__WORKER__DAEMON=False" in row["error"]


def test_slurm_job_script_holds_the_options_and_workers_that_may_start_processes():
    cluster = slurm_cluster("gpu", gpus=2, memory="32GB", walltime="02:00:00", jobs=0, cpus=8,
                            scheduler_options={"host": "127.0.0.1", "dashboard_address": None})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=30G", "#SBATCH -t 02:00:00",
                 "#SBATCH --gres=gpu:2", *worker_config_lines()):
        assert line in script.splitlines(), script
    assert "--nworkers 2" in script and "--nthreads 1" in script  # one worker, one video at a time, per GPU


def test_the_job_scripts_config_lines_give_workers_that_are_no_daemons_and_keep_mallocs_defaults(tmp_path):
    """What a nanny started after those lines would set before starting its worker, and its daemon flag."""
    ask = ("import dask; from distributed.nanny import _get_env_variables; "
           "print(dask.config.get('distributed.worker.daemon'), "
           "sorted(_get_env_variables('distributed.nanny.pre-spawn-environ')))")
    script = "\n".join([*worker_config_lines(), f'"{sys.executable}" -c "{ask}"'])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "[]"], done.stdout


def test_the_worker_config_in_the_docs_is_the_one_the_clusters_use():
    import re
    import textwrap

    import yaml

    from napari_sam2_longvideo.batch.clusters import WORKER_CONFIG

    text = (Path(__file__).resolve().parents[1] / "docs" / "batch.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert yaml.safe_load(textwrap.dedent(block)) == WORKER_CONFIG
