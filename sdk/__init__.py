"""anyppg.sdk: connect to wearables, stream samples with exact accounting, run deployed models.

Imports no torch. ``anyppg.connect`` is re-exported from here.
"""
