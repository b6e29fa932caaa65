"""Per-animal speed, area and score over the whole video, episodes shaded, the current frame marked.

Drawn with matplotlib on a Qt canvas. Each line is decimated to a min/max pair per column
(`_review_data.decimate`), so a 100k-frame run draws a few thousand points per line. The current-frame
marker is *animated*: the figure is drawn once and kept as a bitmap (``copy_from_bbox``); moving the
marker restores that bitmap, draws only the marker lines and repaints only the two narrow strips where
the marker was and is (blitting), so following the time slider costs the same however long the video.
Episodes are shaded from a per-column mask (`_review_data.episode_columns`): a few thousand rectangles
at most, not one per episode. A click on the plot calls ``on_frame(frame)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from ._colors import animal_color
from ._review_data import QUANTITIES, AnimalSeries, decimate, episode_columns

# napari's dark theme, so the plot sits in the dock without a white block
BACKGROUND, FOREGROUND, GRID = "#262930", "#d1d2d4", "#414851"
# episodes shaded by reason, faint enough for the lines to show through
REASON_SHADES = {
    "jumped": "#ff4d4d", "lost": "#b0b0b0", "merged": "#c77dff", "low_score": "#ffd166", "reanchored": "#4dd0e1",
    "close_assignment": "#ff9f43",
}
SHADE_ALPHA = 0.25
STRIP = 3  # pixels repainted either side of the marker line


class ReviewPlot(QWidget):
    """Three stacked plots (speed, area, score) sharing the frame axis, one line per animal.

    Parameters
    ----------
    on_frame : callable, optional
        Called with the frame clicked on.
    """

    def __init__(self, on_frame: Callable[[int], None] | None = None):
        super().__init__()
        self.on_frame = on_frame
        self.figure = Figure(figsize=(4, 3.6), dpi=90, facecolor=BACKGROUND, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(260)
        QVBoxLayout(self).addWidget(self.canvas)
        self.layout().setContentsMargins(0, 0, 0, 0)
        self.axes = self.figure.subplots(len(QUANTITIES), 1, sharex=True)
        self.lines: dict[tuple[int, str], object] = {}  # (animal, quantity) -> Line2D
        self.markers = []
        self.num_frames = 0
        self.frame = 0
        self._background = None
        self.canvas.mpl_connect("draw_event", self._on_draw)
        self.canvas.mpl_connect("button_press_event", self._on_click)
        self.show_series([], [], 0)

    def show_series(self, series: list[AnimalSeries], episodes, num_frames: int) -> None:
        """Draw ``series`` over ``num_frames`` frames with ``episodes`` shaded (a full redraw)."""
        self.num_frames = num_frames
        self.lines, self.markers = {}, []
        shaded = episode_columns(episodes, num_frames)
        for axis, (quantity, title) in zip(self.axes, QUANTITIES):
            axis.clear()
            _style(axis, title)
            for reason, (edges, inside) in shaded.items():
                axis.fill_between(edges, 0, 1, where=inside, step="post", transform=axis.get_xaxis_transform(),
                                  color=REASON_SHADES.get(reason, "#888888"), alpha=SHADE_ALPHA, linewidth=0)
            for animal in series:
                x, y = decimate(getattr(animal, quantity))
                (line,) = axis.plot(x, y, color=animal_color(animal.animal), linewidth=0.9,
                                    label=f"animal {animal.animal}")
                self.lines[animal.animal, quantity] = line
            # animated: left out of the saved bitmap, drawn on top of it on each frame change
            self.markers.append(axis.axvline(self.frame, color="white", linewidth=1.0, animated=True))
        self.axes[-1].set_xlabel("frame", color=FOREGROUND)
        self.axes[0].set_xlim(0, max(num_frames - 1, 1))
        if series:
            legend = self.axes[0].legend(loc="upper right", fontsize=7, frameon=False, ncols=min(len(series), 4))
            for text in legend.get_texts():
                text.set_color(FOREGROUND)
        self._background = None
        self.canvas.draw_idle()

    def set_frame(self, frame: int) -> None:
        """Move the current-frame marker to ``frame``: a blit of the marker lines, not a redraw."""
        before = self._marker_x()
        self.frame = int(frame)
        for marker in self.markers:
            marker.set_xdata([self.frame, self.frame])
        if self._background is None:  # not drawn yet (or resized): the next draw shows the marker
            self.canvas.draw_idle()
            return
        self.canvas.restore_region(self._background)
        for axis, marker in zip(self.axes, self.markers):
            axis.draw_artist(marker)
        height = self.figure.bbox.height
        for x in {before, self._marker_x()}:
            self.canvas.blit(Bbox.from_extents(x - STRIP, 0, x + STRIP, height))

    def _marker_x(self) -> float:
        """Where the marker line is, in the figure's pixels."""
        return float(self.axes[0].transData.transform((self.frame, 0))[0])

    def _on_draw(self, event) -> None:
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        for axis, marker in zip(self.axes, self.markers):
            axis.draw_artist(marker)

    def _on_click(self, event) -> None:
        if event.inaxes is None or event.xdata is None or self.on_frame is None or not self.num_frames:
            return
        self.on_frame(int(np.clip(round(event.xdata), 0, self.num_frames - 1)))


def _style(axis, title: str) -> None:
    axis.set_facecolor(BACKGROUND)
    axis.set_ylabel(title, color=FOREGROUND, fontsize=8)
    axis.tick_params(colors=FOREGROUND, labelsize=7)
    axis.grid(True, color=GRID, linewidth=0.5)
    for spine in axis.spines.values():
        spine.set_color(GRID)
