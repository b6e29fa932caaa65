"""Screenshots of the viewer for docs/napari.md, made with the plugin as a user drives it.

    xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python docs/images/make_screenshots.py

Each picture opens data through the plugin's manifest (File > Open Sample, or the reader), docks the
"Track animals" widget from the Plugins menu's entry, presses Track and waits for the worker, then saves
the whole window with napari's own screenshot function. No model weights are needed: the real clip is
tracked with the weight-free contrast backend and with randomly initialised SAM2 (meaningless masks,
said so in the captions), the generated clip with the backend that follows its known truth.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from napari_sam2_longvideo._napari._prompts_layer import prompts_layer_data
from napari_sam2_longvideo._napari._sample_data import GENERATED_CLIP
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.sample import sample_paths
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

HERE = Path(__file__).parent
PLUGIN = "napari-sam2-longvideo"
REAL_360P = HERE.parents[2] / "shared" / "data" / "two-mice" / "two_mice_360p.mp4"
WINDOW = (1400, 900)


def settle(seconds: float = 0.5) -> None:
    """Let Qt lay out and draw (folding sections and the canvas update over several events)."""
    app = QApplication.instance()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def new_viewer():
    viewer = napari.Viewer(show=True)
    viewer.window.resize(*WINDOW)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Track animals")
    return viewer, widget


def track(viewer, widget, frame: int) -> None:
    widget.track()
    while widget.worker is not None:
        settle(0.05)
    viewer.layers.selection.active = viewer.layers[widget.video.value.name + " labels"]
    viewer.reset_view()
    viewer.dims.set_point(0, frame)
    settle()


def save(viewer, name: str) -> None:
    viewer.screenshot(str(HERE / name), canvas_only=False)
    viewer.close()
    print(HERE / name)


def prompting() -> None:
    """The sample opened, its prompts on frame 0, a negative point added, the prompts layer in add mode."""
    viewer, widget = new_viewer()
    viewer.open_sample(PLUGIN, "two_mice")
    prompts = viewer.layers["two_mice_sample prompts"]
    prompts.mode = "add"
    viewer.layers.selection.active = prompts
    widget.animal.value, widget.negative.value = 2, True
    prompts.add([0, 204, 205])  # on animal 2's tail: leave the thin tail out of its mask
    widget.animal.value, widget.negative.value = 1, False
    settle()
    viewer.reset_view()  # once the dock has taken its width from the canvas
    settle()
    save(viewer, "napari_prompting.png")


def real_clip_contrast(out: Path) -> None:
    viewer, widget = new_viewer()
    viewer.open_sample(PLUGIN, "two_mice")
    widget.form.widgets["backend"].value, widget.form.widgets["chunk_size"].value = "contrast", 20
    widget.out.value = out / "contrast"
    track(viewer, widget, frame=40)
    save(viewer, "viewer_after_tracking.png")


def real_clip_random_sam2(out: Path) -> None:
    viewer, widget = new_viewer()
    video = REAL_360P if REAL_360P.exists() else sample_paths()[0]
    image = viewer.open(video, plugin=PLUGIN)[0]
    data, kwargs, _ = prompts_layer_data(Prompts.from_csv(sample_paths()[1]), f"{image.name} prompts", (360, 640))
    viewer.add_points(data, **kwargs)
    fields = widget.form.widgets
    fields["random_weights"].value, fields["image_size"].value, fields["device"].value = True, 256, "cpu"
    fields["chunk_size"].value, fields["max_frames"].value = 10, 20
    widget.out.value = out / "random_sam2"
    track(viewer, widget, frame=15)
    save(viewer, "napari_random_sam2.png")


def generated_clip_truth(out: Path) -> None:
    viewer, widget = new_viewer()
    viewer.open_sample(PLUGIN, "generated_clip")
    clip = crossing_ellipses(**GENERATED_CLIP)
    widget.backend_factory = lambda settings: TruthBackend(clip)
    widget.form.widgets["chunk_size"].value = 10
    widget.out.value = out / "generated"
    track(viewer, widget, frame=22)
    save(viewer, "napari_generated_truth.png")


def main() -> None:
    out = Path(tempfile.mkdtemp())
    prompting()
    real_clip_contrast(out)
    real_clip_random_sam2(out)
    generated_clip_truth(out)


if __name__ == "__main__":
    main()
