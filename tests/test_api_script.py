"""A script or notebook that calls `napari_sam2_longvideo.track` at its top level, with no ``__main__`` guard,
on the real two-mice clip with the contrast backend: its helper process (the blob finder) must not run
the caller's main module again, and the labels must be the command line's."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from tests.real_data import REAL_360P

pytestmark = [
    pytest.mark.slow,  # five runs of 120 to 200 frames of the real clip and a kernel: 40 to 90 s on two busy cores
    pytest.mark.skipif(not REAL_360P.exists(), reason="the real two-mice clip is not here"),
]
PROMPTS = "frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n"
FRAMES = 200  # more than the 100 frames from which the contrast backend starts its helper process


def body(log, prompts, out, frames, progress=False):
    """What a user writes: a line at the top (to count how often the body runs), then the call."""
    return textwrap.dedent(f"""
        with open({str(log)!r}, "a") as handle:
            handle.write("body ran\\n")

        from napari_sam2_longvideo.engine.backends.contrast import outline_worker
        started = []  # the helper process must really start, or this proves nothing
        original = outline_worker.OutlineWorker.__init__
        outline_worker.OutlineWorker.__init__ = lambda self, reopen: (started.append(1), original(self, reopen))[1]

        import napari_sam2_longvideo
        result = napari_sam2_longvideo.track({str(REAL_360P)!r}, {str(prompts)!r}, {str(out)!r},
                                             backend="contrast", max_frames={frames}, progress={progress})
        print("helper processes started:", len(started))
        print("frames:", result.labels.shape[0])
    """)


def command_line(prompts, out, frames):
    done = subprocess.run(
        [sys.executable, "-m", "napari_sam2_longvideo.cli", "track", str(REAL_360P), "--prompts", str(prompts),
         "--out", str(out), "--backend", "contrast", "--max-frames", str(frames), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return tifffile.imread(out / "labels.tif")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "clicks.csv"
    path.write_text(PROMPTS)
    return path


def check(finished, log, out, expected):
    assert finished.returncode == 0, finished.stderr
    assert log.read_text() == "body ran\n"  # once: the helper process did not run it again
    assert "helper processes started: 1" in finished.stdout
    np.testing.assert_array_equal(tifffile.imread(out / "labels.tif"), expected)


def test_a_script_without_a_main_guard_runs_once_and_tracks_as_the_command_line(tmp_path, prompts):
    log, out = tmp_path / "body.log", tmp_path / "run"
    script = tmp_path / "analysis.py"
    script.write_text(body(log, prompts, out, FRAMES))
    finished = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    expected = command_line(prompts, tmp_path / "cli", FRAMES)
    assert f"frames: {FRAMES}" in finished.stdout
    check(finished, log, out, expected)


@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_a_main_module_without_a_file_as_in_a_notebook(tmp_path, prompts, how):
    """``python -c`` and a script piped to ``python -``: ``__main__`` has no file, as in Jupyter."""
    log, out = tmp_path / "body.log", tmp_path / "run"
    code = body(log, prompts, out, 120)
    if how == "-c":
        finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    else:
        finished = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, timeout=300)
    check(finished, log, out, command_line(prompts, tmp_path / "cli", 120))


def test_a_jupyter_kernel_tracks_as_the_command_line(tmp_path, prompts):
    """The notebook itself: an IPython kernel (whose ``__main__`` has no file) runs the cell once."""
    from jupyter_client import manager  # a testing dependency, with ipykernel: never skipped
    log, out = tmp_path / "body.log", tmp_path / "run"
    kernel, client = manager.start_new_kernel(kernel_name="python3")
    outputs = []
    try:
        reply = client.execute_interactive(
            body(log, prompts, out, 120, progress=True), timeout=240,
            output_hook=lambda message: outputs.append(message["content"].get("text", "")),
        )
    finally:
        client.stop_channels()
        kernel.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    printed = "".join(outputs)
    assert log.read_text() == "body ran\n" and "helper processes started: 1" in printed
    assert "120/120 frames" in printed  # the bar: a widget with ipywidgets, else text
    assert "IProgress not found" not in printed  # and no warning about a widget it cannot draw
    np.testing.assert_array_equal(tifffile.imread(out / "labels.tif"), command_line(prompts, tmp_path / "cli", 120))
