"""One colour per animal, the same in the prompts layer and in the Labels layer."""

from napari.utils.colormaps import label_colormap


def animal_colormap():
    """The colormap given to result Labels layers; points are coloured from it too."""
    return label_colormap(49, seed=0.5)


def animal_color(animal: int):
    return animal_colormap().map([int(animal)])[0]
