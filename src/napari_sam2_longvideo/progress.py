"""A terminal progress bar for the command line: frames per second, time left, chunks, downloads."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBar:
    """Draws tqdm bars on stderr from the tracker's events; does nothing when disabled."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None
        self._download = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def download(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self._download is None:
            self._download = tqdm(
                total=total, unit="B", unit_scale=True, desc="SAM2 weights", file=sys.stderr, disable=False
            )
        self._download.update(done - self._download.n)
        if total and done >= total:
            self._download.close()
            self._download = None

    def start(self, event) -> None:
        if self.enabled:
            self._bar = tqdm(
                total=event.total_frames,
                initial=event.frames_done,
                unit="frame",
                desc=f"chunk 1/{event.num_chunks}" if not event.frames_done else "resuming",
                file=sys.stderr,
                dynamic_ncols=True,
                disable=False,
            )

    def frame(self, event) -> None:
        if self._bar is not None:
            self._bar.update(event.frames_done - self._bar.n)

    def chunk(self, event) -> None:
        if self._bar is not None:
            next_chunk = min(event.chunk.index + 2, event.num_chunks)
            self._bar.set_description(f"chunk {next_chunk}/{event.num_chunks}")
            if event.lost_animals:
                self._bar.write(
                    f"chunk {event.chunk.index + 1}: animal(s) {', '.join(map(str, event.lost_animals))} "
                    "lost by its last frame"
                )

    def training(self, event) -> None:
        if self._bar is not None:
            self._bar.set_description(f"training detector, epoch {event.epoch}/{event.epochs}")

    def close(self) -> None:
        for bar in (self._bar, self._download):
            if bar is not None:
                bar.close()
        self._bar = self._download = None
