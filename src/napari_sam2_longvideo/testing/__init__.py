"""Generated videos with known truth and a deterministic backend that follows the truth.

Shipped in the package (not only under tests/) so the napari widget's tests, the benchmarks and users
checking an installation can all run the real tracker without model weights.
"""
