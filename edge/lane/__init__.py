"""Lane sensing: vehicle sessions from separator and axle events, and the load-sample buffer."""

from edge.lane.buffer import SampleBuffer, SampleWindow
from edge.lane.session import AxleTiming, LaneStateMachine, VehicleSession

__all__ = ["AxleTiming", "LaneStateMachine", "SampleBuffer", "SampleWindow", "VehicleSession"]
