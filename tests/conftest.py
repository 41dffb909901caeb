"""Shared test configuration.

Tests that need torch import it inside the test module; the SDK-side tests must not.
"""

from __future__ import annotations

import os

# Keep each test process to one BLAS/torch thread: `make test` runs two pytest workers on two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
