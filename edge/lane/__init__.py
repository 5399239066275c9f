"""Lane sensing: vehicle sessions from separator and axle events, the load-sample buffer, the busy signal."""

from edge.lane.buffer import SampleBuffer, SampleWindow
from edge.lane.busy import LaneBusy
from edge.lane.session import AxleTiming, LaneStateMachine, VehicleSession

__all__ = ["AxleTiming", "LaneBusy", "LaneStateMachine", "SampleBuffer", "SampleWindow", "VehicleSession"]
