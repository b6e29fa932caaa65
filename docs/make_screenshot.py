"""Screenshot of the viewer after tracking the bundled real clip (for docs/napari.md).

    xvfb-run -a .venv/bin/python docs/make_screenshot.py

Opens the two-mice sample through the plugin's manifest, tracks it with the widget (contrast backend:
real masks without model weights), waits for the run, and saves the whole window.
"""

import tempfile
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).parent / "images" / "viewer_after_tracking.png"


def main():
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 950)
    viewer.open_sample("napari-sam2-longvideo", "two_mice")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-sam2-longvideo", "Track animals")
    widget.image.value, widget.prompts.value = "two_mice_sample", "two_mice_sample prompts"
    widget.backend.value, widget.chunk_size.value = "contrast", 20
    widget.out.value = Path(tempfile.mkdtemp()) / "run"
    widget.start()
    app = QApplication.instance()
    while widget.worker is not None:
        app.processEvents()
    viewer.reset_view()
    viewer.dims.set_point(0, 40)
    app.processEvents()
    viewer.screenshot(str(OUT), canvas_only=False)
    print(OUT)


if __name__ == "__main__":
    main()
