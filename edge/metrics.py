"""Prometheus metrics (``[metrics] enabled = true``): a text endpoint on a local port.

Nothing is measured in the lane's path but one histogram observation per record (about a microsecond,
after the verdict is shown).  The rest is read at scrape time from a snapshot the daemon's housekeeping
replaces every few seconds (:meth:`Metrics.update`), so a scrape never touches the lane's objects from the
server's thread.  Each daemon has its own registry: several lanes on one host serve on their own ports.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS_S", "Metrics"]

#: Verdict latency buckets (s): the lane's target is 0.5 s at p99 (docs/benchmarks.md).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)

_UPLINK_STATES = ("connected", "connecting", "disconnected", "disabled")


class _Snapshot(Collector):
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        data = self.data  # one reference: the housekeeping replaces it whole
        summary: dict[str, Any] = data.get("summary") or {}
        health: dict[str, Any] = data.get("health") or {}
        labels = {"site": str(data.get("site_id", "")), "lane": str(data.get("lane", ""))}
        names, values = list(labels), list(labels.values())

        vehicles = CounterMetricFamily(
            "weighlane_vehicles", "Vehicles judged (kept across restarts).", labels=names
        )
        vehicles.add_metric(values, float(summary.get("vehicles") or 0))
        yield vehicles

        bad = CounterMetricFamily(
            "weighlane_device_frames_bad", "Bad frames per device.", labels=[*names, "device"]
        )
        reconnects = CounterMetricFamily(
            "weighlane_device_reconnects", "Connections lost per device.", labels=[*names, "device"]
        )
        up = GaugeMetricFamily(
            "weighlane_device_up", "1 when the device's link is up.", labels=[*names, "device"]
        )
        for device, state in (health.get("devices") or {}).items():
            bad.add_metric([*values, device], float(state.get("frames_bad") or 0))
            reconnects.add_metric([*values, device], float(state.get("disconnects") or 0))
            up.add_metric([*values, device], 1.0 if state.get("state") == "up" else 0.0)
        yield bad
        yield reconnects
        yield up

        outbox: dict[str, Any] = data.get("outbox") or {}
        depth = GaugeMetricFamily(
            "weighlane_outbox_unsent", "Records not yet acknowledged by the broker.", labels=names
        )
        depth.add_metric(values, float(outbox.get("unsent") or 0))
        yield depth
        age = GaugeMetricFamily(
            "weighlane_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unsent record (0: none).",
            labels=names,
        )
        age.add_metric(values, float(outbox.get("oldest_unsent_age_s") or 0.0))
        yield age

        uplink: dict[str, Any] = health.get("uplink") or {}
        state = GaugeMetricFamily(
            "weighlane_uplink_state", "1 for the uplink's current state.", labels=[*names, "state"]
        )
        for name in _UPLINK_STATES:
            state.add_metric([*values, name], 1.0 if uplink.get("state") == name else 0.0)
        yield state
        refused = CounterMetricFamily(
            "weighlane_uplink_refused_publishes",
            "Publishes the broker refused (PUBACK >= 0x80).",
            labels=names,
        )
        refused.add_metric(values, float(uplink.get("refused") or 0))
        yield refused

        alerts = CounterMetricFamily(
            "weighlane_watchlist_alerts",
            "Watch-list matches raised as alerts since start (sent to central or not).",
            labels=names,
        )
        alerts.add_metric(values, float(health.get("watchlist_alerts_raised") or 0))
        yield alerts

        disk: dict[str, Any] = summary.get("disk") or {}
        free = GaugeMetricFamily(
            "weighlane_disk_free_bytes", "Free space on the evidence volume.", labels=names
        )
        free.add_metric(values, float(disk.get("free_mb") or 0) * 1e6)
        yield free
        used = GaugeMetricFamily(
            "weighlane_disk_used_ratio", "Used share of the evidence volume.", labels=names
        )
        used.add_metric(values, float(disk.get("used_fraction") or 0))
        yield used
        waiting = GaugeMetricFamily(
            "weighlane_records_waiting_for_disk", "Records in the disk-full spool (or memory).", labels=names
        )
        waiting.add_metric(values, float(summary.get("records_waiting_for_disk") or 0))
        yield waiting


class Metrics:
    """The daemon's registry and endpoint.  :meth:`observe` takes each record as it is stored."""

    def __init__(self, site_id: str, lane: int) -> None:
        self.registry = CollectorRegistry()
        self._snapshot = _Snapshot()
        self._snapshot.data = {"site_id": site_id, "lane": lane}
        self.registry.register(self._snapshot)
        labels = ["site", "lane"]
        self._labels = (site_id, str(lane))
        self.verdicts = Counter(
            "weighlane_verdicts",
            "Records by verdict since start.",
            [*labels, "verdict"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "weighlane_verdict_latency_seconds",
            "Last axle off the scale to the verdict on the board.",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def observe(self, verdict: str, latency_ms: float | None) -> None:
        self.verdicts.labels(*self._labels, verdict).inc()
        if latency_ms is not None:
            self.latency.labels(*self._labels).observe(latency_ms / 1000)

    def update(self, snapshot: dict[str, Any]) -> None:
        self._snapshot.data = snapshot

    def start(self, bind: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=bind, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
