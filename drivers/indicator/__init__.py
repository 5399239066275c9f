"""Weighing indicators of static weighbridges: XK3190-A9, Toledo continuous output and MT-SICS.

Each protocol has a pure codec (bytes in, frames out; frames in, bytes out) shared by the driver in
:mod:`drivers.indicator.driver` and the simulator in :mod:`firmware_sim.indicator`.  See
docs/protocols/indicators.md.
"""
