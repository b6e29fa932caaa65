"""Where the real two-mice clip lies beside the project (``../shared/data/two-mice``); tests that use it
skip when it is absent."""

from pathlib import Path

TWO_MICE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "two-mice"
REAL_360P = TWO_MICE / "two_mice_360p.mp4"
REAL_720P = TWO_MICE / "two_mice_720p.mp4"
