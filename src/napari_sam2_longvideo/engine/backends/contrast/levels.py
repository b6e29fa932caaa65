"""The low level of the hysteresis, from the prompted animals.

An animal's core stands out from the floor by more than the high level (Otsu's threshold); a part that
contrasts weakly (a fly's striped abdomen, a mouse's tail) by less. Lowering the level from the high
one, the region grown from the prompted cores (`blobs.grown_from_cores`) gains such a part at once and
then holds still: below the part's contrast and above the floor's texture there is nothing more to
take. Lower still, it spills into the floor's texture, a shadow or a pellet, and grows without end.

The low level chosen is the lowest at which the grown region has gained a part (grown by `PART` of the
cores at least) and holds still over the next `PLATEAU` grey levels below it (grows by at most
`STILL`), above every level where it had spilled (grown past `SPILL` times the cores, or joined two
prompted animals into one region). An animal of one tone gains no part: its region only creeps
outwards, level by level, into the shadows and the texture around it (the mice of the two-mice clip
gain 0.3% a level), and its low level is the high one: no growth, as a single threshold.
"""

from __future__ import annotations

import cv2
import numpy as np

from .blobs import OPEN_KERNEL, grown_from_cores
from .floor import MIN_THRESHOLD

PLATEAU = 4  # grey levels the region must hold still over
STILL = 0.01  # growth (a fraction of the region) that counts as holding still
PART = 0.1  # growth (a fraction of the cores) that is a part of the animal, not its edge creeping out
SPILL = 2.5  # a region this many times its cores' area has run into the floor


def learn_low_level(contrast: np.ndarray, cores: list[np.ndarray], high: float, arena: np.ndarray | None) -> float:
    """The low level for animals whose cores on a frame of ``contrast`` (`FloorModel.contrast`) are ``cores``.

    Parameters
    ----------
    contrast : numpy.ndarray
        ``(H, W)`` uint8, the prompt frame's contrast with the local floor.
    cores : list of numpy.ndarray
        Each prompted animal's pixels (flat indices) at the high level.
    high : float
        The high level.
    arena : numpy.ndarray or None
        uint8 0/1, where animals can be.
    """
    cores = [c for c in cores if len(c)]
    if not cores:
        return high
    seeds = np.zeros(contrast.shape, np.uint8)
    for i, core in enumerate(cores, start=1):
        seeds.ravel()[core] = i
    core_area = sum(len(c) for c in cores)
    joined_already = len(cores) > 1 and _joins((seeds > 0).view(np.uint8), cores)  # clicked on one blob
    # below the lowest level allowed too: whether the region holds still under it
    levels = np.arange(int(np.ceil(high)) - 1, max(0, int(np.ceil(MIN_THRESHOLD)) - PLATEAU - 1), -1)
    areas = []
    for level in levels:
        _, low = cv2.threshold(contrast, float(level), 1, cv2.THRESH_BINARY)
        if arena is not None:
            low = cv2.bitwise_and(low, arena)
        low = cv2.morphologyEx(low, cv2.MORPH_OPEN, OPEN_KERNEL)
        grown = grown_from_cores(low, cv2.bitwise_and((seeds > 0).view(np.uint8), low))
        area = cv2.countNonZero(grown)
        if area > SPILL * core_area or (len(cores) > 1 and not joined_already and _joins(grown, cores)):
            break
        areas.append(area)
    for i in range(len(areas) - PLATEAU - 1, -1, -1):  # the lowest level first
        if levels[i] < MIN_THRESHOLD:
            continue
        if areas[i] >= (1 + PART) * core_area and areas[i + PLATEAU] <= (1 + STILL) * areas[i]:
            return float(levels[i])
    return high


def _joins(grown: np.ndarray, cores: list[np.ndarray]) -> bool:
    """Whether two prompted animals' cores lie in one grown region."""
    _, regions = cv2.connectedComponents(grown, connectivity=8)
    seen: set[int] = set()
    for core in cores:
        mine = set(np.unique(regions.ravel()[core]).tolist()) - {0}
        if mine & seen:
            return True
        seen |= mine
    return False
