"""Small Qt pieces the dock widget is laid out with: headings, collapsible sections, a colour swatch."""

from __future__ import annotations

from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible


def heading(text: str) -> QLabel:
    return QLabel(f"<b>{text}</b>")


def hint(text: str) -> QLabel:
    """Help in small print under the controls it explains."""
    label = QLabel(f"<small>{text}</small>")
    label.setWordWrap(True)
    label.setEnabled(False)  # the theme's dimmed text colour
    return label


def collapsible(title: str, content: QWidget) -> QCollapsible:
    """A section shown folded, for settings most runs leave alone."""
    section = QCollapsible(title, expandedIcon="▾", collapsedIcon="▸")
    section.layout().setContentsMargins(0, 0, 0, 0)
    section.layout().setSpacing(0)
    section.addWidget(content)
    # never squeezed below its height: the scroll area scrolls instead
    section.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return section


def row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return holder


def color_swatch(rgba) -> QLabel:
    """A small square showing ``rgba`` (floats 0 to 1)."""
    swatch = QLabel()
    swatch.setFixedSize(22, 22)
    set_swatch_color(swatch, rgba)
    return swatch


def set_swatch_color(swatch: QLabel, rgba) -> None:
    red, green, blue = (int(round(255 * value)) for value in rgba[:3])
    swatch.setStyleSheet(f"background-color: rgb({red}, {green}, {blue}); border: 1px solid white;")


def scrolling(*parts: QWidget) -> QScrollArea:
    """``parts`` stacked in a scroll area, for when the folded sections are opened on a small screen."""
    content = QWidget()
    layout = QVBoxLayout(content)
    for part in parts:
        layout.addWidget(part)
    layout.addStretch()
    scroll = _VerticalScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(content)
    return scroll


class _VerticalScrollArea(QScrollArea):
    """Scrolls only vertically: at least as wide as its content, scroll bar included, so the dock is too."""

    def minimumSizeHint(self) -> QSize:
        content = self.widget().minimumSizeHint().width() if self.widget() is not None else 0
        width = content + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(width, super().minimumSizeHint().height())
