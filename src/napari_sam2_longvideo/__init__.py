"""Segment and track several animals through long videos with SAM2, in chunks of frames.

The Python API (`api`): ``track``, ``open_run``, ``review``, ``swap``, ``correct``, ``undo``, ``export``.
They are imported on first use, so that ``import napari_sam2_longvideo`` (which napari does to read the
plugin's manifest) stays as cheap as an empty package.
"""

__version__ = "0.1.0"

_API = ("track", "open_run", "review", "swap", "correct", "undo", "export", "TrackResult")
__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
