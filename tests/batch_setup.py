"""What the batch tests share: generated clips as TIFF stacks with prompts, their single runs, and a
``dask scheduler`` with ``dask worker`` processes on loopback, stopped by the test."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses

CONTRAST = ["--backend", "contrast", "--chunk-size", "10", "--quiet"]


def write_clips(folder: Path, count: int, num_frames: int = 40, height: int = 72, width: int = 96) -> list[tuple]:
    """``count`` clips ``clipN.tif`` with ``clipN.csv`` prompts beside them; returns ``(video, prompts)``."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(count):
        clip = crossing_ellipses(num_frames=num_frames, height=height, width=width, seed=index)
        video, prompts = folder / f"clip{index}.tif", folder / f"clip{index}.csv"
        tifffile.imwrite(video, clip.frames)
        with open(prompts, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["frame", "y", "x", "animal", "positive"])
            writer.writerows((f, round(y, 2), round(x, 2), a, int(p)) for f, y, x, a, p in clip.center_prompts(0))
        pairs.append((video, prompts))
    return pairs


def write_manifest(path: Path, pairs, extra: dict[str, list] | None = None) -> Path:
    extra = extra or {}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "prompts", *extra])
        for index, (video, prompts) in enumerate(pairs):
            writer.writerow([video, prompts, *(values[index] for values in extra.values())])
    return path


def single_runs(pairs, folder: Path, *options) -> dict[str, Path]:
    """Each clip through ``sam2-longvideo track`` alone: the reference a batch must equal."""
    runs = {}
    for video, prompts in pairs:
        out = folder / Path(video).stem
        assert main(["track", str(video), "--prompts", str(prompts), "--out", str(out), *CONTRAST, *options]) == 0
        runs[Path(video).stem] = out
    return runs


def assert_same_results(run: Path, reference: Path) -> None:
    """Labels equal as arrays and ``tracks.csv`` equal byte for byte."""
    np.testing.assert_array_equal(tifffile.imread(run / "labels.tif"), tifffile.imread(reference / "labels.tif"))
    assert (run / "tracks.csv").read_bytes() == (reference / "tracks.csv").read_bytes()


def read_batch_csv(path: Path) -> dict[str, dict]:
    with open(path, newline="") as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


class DaskServers:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, without dashboards.

    Workers run without a nanny unless asked, so that killing one's process kills the worker (as a machine
    that dies), and are not daemons, so that they may start processes (the contrast backend's helper).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.scheduler_file = self.folder / "scheduler.json"
        self.processes: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")

    def __enter__(self) -> DaskServers:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(self.scheduler_file)])
        deadline = time.time() + 60
        while not self.scheduler_file.exists():
            assert time.time() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        return self

    @property
    def address(self) -> str:
        import json

        return json.loads(self.scheduler_file.read_text())["address"]

    def start_worker(self, nanny: bool = False) -> subprocess.Popen:
        from distributed import Client

        with Client(scheduler_file=str(self.scheduler_file), timeout="30s") as client:
            before = len(client.scheduler_info()["workers"])
            worker = self._start(f"worker{len(self.workers)}", [
                "distributed.cli.dask_worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
                "--nthreads", "1", "--nanny" if nanny else "--no-nanny", "--no-dashboard",
                "--local-directory", str(self.folder / "scratch"),
            ])
            client.wait_for_workers(before + 1, timeout=60)
        self.workers.append(worker)
        return worker

    def _start(self, name: str, module_args: list[str]) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "w") as log:  # the process has its own copy of the file
            process = subprocess.Popen([sys.executable, "-m", *module_args], stdout=log, stderr=subprocess.STDOUT,
                                       env=self.env)
        self.processes.append(process)
        return process

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
