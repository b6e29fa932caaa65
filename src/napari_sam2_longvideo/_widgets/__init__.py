"""Everything napari: readers, writer, sample data, the prompts layer and the tracking widget.

The only part of the package that imports napari or Qt; it translates layers to engine inputs and the
engine's events to layer updates.
"""
