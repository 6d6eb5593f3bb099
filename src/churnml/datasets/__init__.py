"""Data sets: the real CDNOW transactions and a simulator with known truth."""

from churnml.datasets.cdnow import CDNOW_CALIBRATION_END, CDNOW_END, load_cdnow, load_cdnow_summary

__all__ = ["CDNOW_CALIBRATION_END", "CDNOW_END", "load_cdnow", "load_cdnow_summary"]

try:  # the simulator module is optional while it is being built
    from churnml.datasets.simulator import SimulatedData, simulate

    __all__ += ["SimulatedData", "simulate"]
except ImportError:  # pragma: no cover
    pass
