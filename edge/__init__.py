"""Edge service for truck weigh stations: lane sensing, weighing, limits, lane control, evidence, uplink."""

import os

# The lane's linear algebra is small (a few hundred unknowns per crossing): a multi-threaded BLAS only
# fights the lane's own threads and the uplink for the cores, and a 0.2 ms solve then takes 60 ms.  One
# BLAS thread unless the operator says otherwise; this runs before anything imports numpy.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
