"""``python -m napari_sam2_longvideo.cli``: the same as ``sam2-longvideo``."""

import sys

from . import main

sys.exit(main())
