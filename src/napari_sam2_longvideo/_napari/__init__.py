"""Everything napari: readers, writer, sample data, the prompts layer and the "Track animals" widget.

The only part of the package that imports napari or Qt. It translates layers into engine inputs
(`FrameSource`, `Prompts`, `TrackSettings`) and the engine's events into layer updates, progress and
notifications; the tracking itself is `engine.run.run_tracking`, exactly as the command line runs it.
"""
