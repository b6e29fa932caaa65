"""The screenshot of docs/review.md: the "Review and correct" widget on a contrast run of the real clip.

    xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python docs/images/make_review_screenshot.py

Tracks the two mice of ``two_mice_360p.mp4`` with the weight-free contrast backend (the clicks of the
project's reference runs) into a temporary folder, opens the video and the run folder through the
plugin's readers, docks the widget from the Plugins menu's entry, goes to the worst episode, and saves
the window with napari's own screenshot, reduced to a 256-colour PNG to stay small.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import napari
from PIL import Image
from qtpy.QtWidgets import QApplication

from napari_sam2_longvideo.cli import main as cli

HERE = Path(__file__).parent
PLUGIN = "napari-sam2-longvideo"
VIDEO = HERE.parents[2] / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
CLICKS = "frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n"
WINDOW = (1500, 950)


def settle(seconds: float = 0.8) -> None:
    app = QApplication.instance()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main(video: Path = VIDEO, out: Path = HERE / "review_panel.png") -> Path:
    with tempfile.TemporaryDirectory() as folder:
        clicks = Path(folder) / "clicks.csv"
        clicks.write_text(CLICKS)
        run = Path(folder) / "two_mice_run"
        assert cli(["track", str(video), "--prompts", str(clicks), "--out", str(run), "--backend", "contrast",
                    "--quiet"]) == 0
        viewer = napari.Viewer(show=True)
        viewer.window.resize(*WINDOW)
        viewer.open(video, plugin=PLUGIN)
        viewer.open(run, plugin=PLUGIN)
        _dock, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "Review and correct")
        settle()
        panel.go_to_episode(0)
        viewer.layers.selection.active = viewer.layers[f"{run.name} labels"]
        viewer.reset_view()
        settle()
        path = Path(folder) / "full.png"
        viewer.screenshot(path, canvas_only=False)
        viewer.close()
        Image.open(path).convert("RGB").quantize(256).save(out, optimize=True)
    return out


if __name__ == "__main__":
    print(main())
