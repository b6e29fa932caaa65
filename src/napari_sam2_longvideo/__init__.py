"""Segment and track several animals through long videos with SAM2, in chunks of frames."""

__version__ = "0.1.0"
