"""Prometheus metrics from a running lane: scraped over HTTP and parsed with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edge.config import Config
from edge.daemon import LaneDaemon
from edge.demo import free_port
from edge.metrics import Metrics
from firmware_sim.scenario import Scenario

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "weighlane-edge.json"


def _scrape(port: int) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_metrics_count_verdicts_latency_devices_and_outbox(
    make_rig: Any, short_scenario: Scenario
) -> None:
    rig = make_rig(short_scenario)  # the broker is down: the outbox keeps every record
    port = free_port()
    data = rig.config.model_dump()
    data["metrics"] = {"enabled": True, "bind": "127.0.0.1", "port": port}
    rig.config = Config.model_validate(data)
    rig.daemon = LaneDaemon(rig.config, on_record=rig.keep)
    await rig.start()
    await rig.wait_records(3, 120)
    await asyncio.sleep(5.5)  # the next snapshot (every 5 s)
    families = await asyncio.to_thread(_scrape, port)

    verdicts = {
        s.labels["verdict"]: s.value for s in families["weighlane_verdicts"] if s.name.endswith("_total")
    }
    expected: dict[str, float] = {}
    for record in rig.records:
        expected[record["verdict"]] = expected.get(record["verdict"], 0) + 1
    assert verdicts == expected
    latency = {s.name: s for s in families["weighlane_verdict_latency_seconds"]}
    assert latency["weighlane_verdict_latency_seconds_count"].value == 3
    assert 0 < latency["weighlane_verdict_latency_seconds_sum"].value < 3 * 5.0
    assert families["weighlane_vehicles"][0].value == 3
    assert families["weighlane_outbox_unsent"][0].value == 3
    assert families["weighlane_outbox_oldest_unsent_age_seconds"][0].value > 0
    up = {s.labels["device"]: s.value for s in families["weighlane_device_up"]}
    assert up["wim"] == 1.0 and set(up) >= {"wim", "separator", "axle_sensor", "display", "barrier"}
    state = {s.labels["state"]: s.value for s in families["weighlane_uplink_state"]}
    assert state["connected"] == 0.0
    assert families["weighlane_disk_free_bytes"][0].value > 0
    assert families["weighlane_vehicles"][0].labels == {"site": rig.config.site.id, "lane": "1"}

    # Every series the example Grafana dashboard queries is served.
    served = {sample.name for samples in families.values() for sample in samples}
    queried = set(re.findall(r"weighlane_[a-z_]+", DASHBOARD.read_text()))
    assert queried and queried <= served, queried - served


def test_watch_list_alerts_are_counted_from_the_site_health() -> None:
    metrics = Metrics("s1", 2)
    metrics.update({"site_id": "s1", "lane": 2, "health": {"watchlist_alerts_raised": 2}})
    text = generate_latest(metrics.registry).decode()
    families = {family.name: family.samples for family in text_string_to_metric_families(text)}
    (sample,) = [s for s in families["weighlane_watchlist_alerts"] if s.name.endswith("_total")]
    assert (sample.value, sample.labels) == (2.0, {"site": "s1", "lane": "2"})
