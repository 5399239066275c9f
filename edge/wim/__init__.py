"""Weigh-in-motion measurement: Numba kernels, their NumPy references, and the crossing estimator."""
