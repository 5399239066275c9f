"""Simulated lane devices: trucks from a scenario file crossing a weigh-in-motion scale.

:mod:`firmware_sim.scenario` reads the scenario TOML files, :mod:`firmware_sim.physics` turns a scenario into
truck positions, axle and light-curtain timings and load-cell signals.  The device simulators built on top of
them speak the same codecs as the drivers in :mod:`drivers`, so the two cannot drift apart.
"""
