"""Outline dimensions (外廓尺寸) from a gantry of 2-D LiDAR scanners: length, width, height, uncertainty and
the oversize verdict.  Kernels in :mod:`edge.outline.kernels`, their NumPy references in
:mod:`edge.outline.reference`, the glue in :mod:`edge.outline.measure`."""
