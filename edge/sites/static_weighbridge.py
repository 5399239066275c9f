"""Site kind ``static_weighbridge``: a source enterprise's unattended weighbridge (源头治超, 无人值守).

One truck's visit, in the order things happen (docs/weighbridge.md):

1. arrival: the deck reads a load or a position beam is blocked; the card read at the entry (if the site
   has a reader) joins the visit;
2. settling: the weighing waits until the position beams say the truck is fully on the deck (no wheel
   over an end: off-centre) and the indicator's readings are stable (edge.static.stability); it says
   on the board why it waits (off the deck, moving, the indicator silent, someone on the deck);
3. the decision: the plate from the entry and exit cameras, the visit (edge.static.visits: tare or
   gross), the vehicle's class and limit (the lane's rules: edge.rules), the anti-cheating checks
   (edge.static.anticheat); the record is stored (signed, queued for upload) *before* the barrier moves,
   so a daemon killed at any point loses no weighing;
4. acting: board and exit barrier.  Overloaded: the barrier stays closed, the board says by how much;
   the truck backs off, unloads and is weighed again, the new record linked to the previous one;
5. leaving: the deck empties; the next truck's record says whether it returned to zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from drivers.axle_sensor.driver import AxlePassage, TyreRecogniser
from drivers.barrier.driver import Barrier
from drivers.card.driver import CardReader
from drivers.display.driver import Colour, LedDisplay
from drivers.errors import DriverError, UnknownDriver
from drivers.indicator.driver import Indicator, IndicatorReading
from drivers.link import LinkConfig
from drivers.position.driver import BeamReading, PositionBeams
from drivers.registry import load_driver_class
from drivers.voice.driver import VoiceModule
from edge import __version__
from edge.actuate.lane_output import with_notice
from edge.config import Config
from edge.evidence.record import (
    EvidenceRecord,
    RecordLimit,
    RecordStatic,
    RecordStaticCheat,
    RecordTiming,
    RecordWim,
    Software,
)
from edge.evidence.recorder import Recorder
from edge.lane.busy import LaneBusy
from edge.lane.devices import build_driver
from edge.plates.lane import fix_mmap_threshold, reader_for
from edge.plates.reader import PlateModelError, PlateReader
from edge.rules import LimitTable, Tyre, VehicleClass, Verdict, classify, decide, gross_limit
from edge.rules.registry import RegisteredVehicle, by_plate
from edge.static import anticheat
from edge.static.anticheat import Cheat
from edge.static.axles import AxleCounter, resolve_axles
from edge.static.cameras import PlateShot, latest_shot, store_shot
from edge.static.position import IntrusionWatch, position_refusal
from edge.static.stability import Judgement, StabilityMonitor, StabilityParams
from edge.static.visits import Visit, VisitStore, visits_path

__all__ = ["StaticWeighbridge", "board_text", "vehicle_class_for"]

log = logging.getLogger(__name__)

#: Cheating checks that make the weighing invalid (re-weigh, barrier closed); the others are flagged
#: on the record and the verdict stands.
BLOCKING_CHECKS = frozenset({"remote_control", "plate_mismatch"})
#: A truck that left the deck for this long without a weighing is gone (it backed off).
_GONE_AFTER_S = 1.5
#: ... but a deck seen empty (under occupied_kg, no beam blocked) this long, then occupied again, is the
#: next truck driving straight on, even before _GONE_AFTER_S.
_EMPTY_BETWEEN_S = 0.5
#: The deck's load is the median of this last stretch of readings: a ringing deck averages out.
_DECK_WINDOW_S = 0.8
#: The board tells an off-deck truck to move only after this long (it is still driving on).
_OFF_DECK_NOTICE_S = 4.0
#: Pictures from this long before the arrival belong to the truck (the entry camera fires on approach).
_CAMERA_LEAD_S = 15.0

#: The stability judgement's reasons as the board and the record name them.
_REASONS = {"motion": "timeout", "indicator_motion": "timeout", "no_readings": "stale", "gap": "stale"}
_REFUSAL_TEXT: dict[str, tuple[Colour, tuple[str, ...]]] = {
    "stale": ("yellow", ("仪表通讯中断", "称重暂停 请勿下磅")),
    "no_readings": ("yellow", ("仪表通讯中断", "称重暂停 请勿下磅")),
    "position_unknown": ("yellow", ("红外定位无信号", "称重暂停 请勿下磅")),
    "beam_fault": ("yellow", ("红外定位故障", "称重暂停 请联系管理员")),
    "off_deck": ("yellow", ("车辆未完全上磅", "请调整车位 停在磅台中间")),
    "deck_intrusion": ("red", ("磅台上有人或其他车辆", "请立即离开磅台")),
    "over_range": ("red", ("超出秤量范围", "请倒车下磅")),
    "timeout": ("yellow", ("称重超时未稳定", "请停稳熄火 人员离开驾驶室")),
}


def _read_picture(reader: PlateReader, path: Path) -> str | None:
    """The plate the station's models are sure of in a camera picture, or None (unreadable, uncertain,
    or not a picture)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        log.warning("weighbridge: %s is not a picture OpenCV can decode", path.name)
        return None
    sure = [result for result in reader.read_frame(np.asarray(image, dtype=np.uint8)) if result.valid]
    if not sure:
        return None
    return max(sure, key=lambda result: result.confidence).text


def _link(device: Any) -> LinkConfig:
    """The serial link of a weighbridge device's configuration (indicator, beams)."""
    return LinkConfig(url=device.port, baudrate=device.baudrate, read_timeout_s=device.read_timeout_s)


def _t(kg: float) -> str:
    return f"{kg / 1000:.2f}t"


def board_text(
    verdict: Verdict,
    pass_kind: str,
    label: str,
    weight_kg: float,
    limit_kg: int,
    net_kg: float | None,
    reasons: tuple[str, ...] = (),
) -> tuple[Colour, tuple[str, ...]]:
    """Board colour and lines for a weighing (Chinese; <= 64 bytes a line)."""
    if verdict is Verdict.REWEIGH:
        why = "车牌不符" if any("plate" in r for r in reasons) else "仪表数据异常"
        return "yellow", (f"{label} 称重异常", why, "禁止出场 请联系管理员")
    if pass_kind == "tare":
        return "green", (f"{label} 皮重{_t(weight_kg)}", "请驶离 装货后回磅")
    weights = f"毛重{_t(weight_kg)} 限{_t(limit_kg)}"
    if verdict is Verdict.OVERWEIGHT:
        return "red", (f"{label} 超载{_t(weight_kg - limit_kg)}", weights, "禁止出场 请倒车卸货后复磅")
    net = "" if net_kg is None else f"净重{_t(net_kg)}"
    return "green", (f"{label} 称重完成 请通行", weights, net)


def spoken_text(lines: tuple[str, ...]) -> str:
    """The board's lines as a voice module says them: one sentence, tonnes spelled (7.00t -> 7.00吨)."""
    return " ".join(re.sub(r"(\d+(?:\.\d+)?)t\b", r"\1吨", line) for line in lines if line)


def vehicle_class_for(
    axles: int, groups: tuple[int, ...] = (), group_max_spacing_m: float = 2.0
) -> VehicleClass:
    """The class of a vehicle known only by its axle count (and perhaps its axle groups), through the
    lane's own :func:`edge.rules.classify`: typical spacings (1.35 m within a group, 3.5 m between)."""
    if not groups:
        groups = {2: (1, 1), 3: (1, 2), 4: (2, 2), 5: (1, 1, 3)}.get(axles, (1, 2, axles - 3))
    if sum(groups) != axles or any(g < 1 for g in groups):
        raise ValueError(f"axle groups {groups} do not add up to {axles} axles")
    spacings: list[float] = []
    for index, size in enumerate(groups):
        if index:
            spacings.append(3.5)
        spacings.extend([1.35] * (size - 1))
    return classify(spacings, group_max_spacing_m=group_max_spacing_m)


def _deck_refusal(beams: BeamReading | None, intrusion_armed: bool) -> str | None:
    """Why the beams refuse a weighing now (:func:`position_refusal`), or None.  Once the truck has stood
    fully on (``intrusion_armed``), whatever blocks a beam is something else on the deck."""
    refusal = position_refusal(beams)
    if refusal is not None and intrusion_armed and beams is not None and beams.blocked:
        return "deck_intrusion"
    return refusal


@dataclass
class _Sensing:
    """What the station reads of a site's sensing: the busy signal (the uplink holds back meanwhile)."""

    busy: LaneBusy = field(default_factory=LaneBusy)


@dataclass
class _NoDrift:
    alarm: bool = False

    def state(self) -> dict[str, Any]:
        return {}


@dataclass
class _DeckZero:
    """The deck's zero between trucks; ``alarm`` when the last empty deck did not return to zero."""

    alarm: bool = False
    residual_kg: float | None = None


@dataclass
class _DeckWeighing:
    zero: _DeckZero = field(default_factory=_DeckZero)
    span_alarm: bool = False  # the lane's load-cell span monitor; the indicator keeps its own calibration


class _BoardNotice:
    """The station's notice for the board (``notice``: "disk full" while records wait for the disk),
    shown under every message; :meth:`refresh_notice` re-shows the idle text when it changes."""

    def __init__(self, site: StaticWeighbridge) -> None:
        self._site = site
        self.notice: Callable[[], str | None] = lambda: None
        self._shown: str | None = None

    async def refresh_notice(self) -> None:
        notice = self.notice()
        if notice != self._shown and self._site.state == "idle":
            self._shown = notice
            await self._site._show("green", tuple(self._site.config.lane.idle_lines))


@dataclass
class _Arrival:
    """One truck on the deck, from its arrival to its decision."""

    t_s: float
    wall_s: float
    zero_residual_kg: float | None
    card_id: str | None
    cheats: list[Cheat] = field(default_factory=list)
    intrusion: IntrusionWatch = field(default_factory=IntrusionWatch)
    visit: tuple[Visit, str] | None = None  # known early when a refused weighing was recorded
    last_seen_s: float = 0.0  # last time the deck was occupied
    empty_seen_s: float = 0.0  # last time the deck was seen empty (after the weighing)
    refusal: str | None = None
    refused_since_s: float | None = None
    refused_record: bool = False
    previous_record_id: str | None = None

    def flag(self, cheat: Cheat | None) -> None:
        if cheat is not None and all(c.check != cheat.check for c in self.cheats):
            log.warning("anti-cheating: %s: %s", cheat.check, cheat.detail)
            self.cheats.append(cheat)


class StaticWeighbridge:
    """The devices and the visit loop of one static weighbridge."""

    def __init__(
        self,
        config: Config,
        limits: LimitTable,
        recorder_factory: Callable[[Callable[[], dict[str, Any]], Callable[[], dict[str, Any]]], Recorder],
        calibration_zero: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self.config = config
        self.limits = limits
        self.reader: PlateReader | None = None  # for pictures with no plate in their name (start())
        self.reader_error = ""
        self._reader_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weighbridge-plates")
        wb = config.weighbridge
        devices = config.devices
        assert devices.indicator is not None and devices.position is not None  # Config checks it
        self.params = StabilityParams(
            division_kg=wb.division_kg,
            max_kg=wb.max_kg,
            window_s=wb.stable_window_s,
            band_divisions=wb.stable_band_divisions,
        )
        self.monitor = StabilityMonitor(self.params)
        # The indicator's keys that are set, and only those, go to its driver (each protocol takes others).
        # The serial drivers and the Modbus transmitter (pymodbus, no SerialLink) share no base class: the
        # registry's role says it is an indicator, and it must have what drivers.indicator.Indicator names.
        indicator_class: Any = load_driver_class(devices.indicator.type, "indicator")
        if not (
            isinstance(getattr(indicator_class, "PROTOCOL", None), str)
            and callable(getattr(indicator_class, "run", None))
            and callable(getattr(indicator_class, "health", None))
        ):
            raise UnknownDriver(f"devices.indicator: {devices.indicator.type!r} is not an indicator driver")
        settings = {
            key: value
            for key, value in devices.indicator
            if key not in ("type", "port", "baudrate", "read_timeout_s") and value is not None
        }
        self.indicator: Indicator = indicator_class(
            "indicator", _link(devices.indicator), on_reading=self._on_reading, **settings
        )
        self.beams = PositionBeams("position", _link(devices.position), on_beams=self._on_beams)
        self.display = build_driver(devices.display, LedDisplay)
        self.barrier = build_driver(devices.barrier, Barrier)
        # A barrier before the entry end, when the site has one: one truck on the deck at a time.
        self.entry_barrier: Barrier | None = None
        if devices.entry_barrier is not None:
            self.entry_barrier = build_driver(devices.entry_barrier, Barrier, name="entry_barrier")
        self.entry_open: bool | None = None  # None: not yet commanded
        # An RFID/IC card reader at the entry, when the site has one: each card joins the arriving truck.
        self.card_reader: CardReader | None = None
        if devices.card_reader is not None:
            self.card_reader = build_driver(
                devices.card_reader, CardReader, on_card=lambda reading: self.card_read(reading.card_id)
            )
        # A text-to-speech module, when the site has one: it says the verdict the board shows.
        self.voice: VoiceModule | None = None
        if devices.voice is not None:
            self.voice = build_driver(devices.voice, VoiceModule)
        self._speaking: set[asyncio.Task[bool]] = set()
        # A tyre/axle recogniser at the deck's entry end, when the site has one: it counts the axles.
        self.axle_counter = AxleCounter()
        self.axle_sensor: TyreRecogniser | None = None
        if wb.axle_sensor:
            self.axle_sensor = build_driver(devices.axle_sensor, TyreRecogniser, on_axle=self._on_axle)
        self._deck_left_s = 0.0  # when the last truck was last seen on the deck (host monotonic)
        self._registry: tuple[int, dict[str, RegisteredVehicle]] = (0, {})
        self.drift = _NoDrift()
        self.recorder = recorder_factory(self.device_health, self.drift.state)
        self.sensing = _Sensing()
        self.weighing = _DeckWeighing()
        self.visits = VisitStore(visits_path(config.evidence.database))
        self.vehicles = 0
        self.state = "idle"  # idle -> on_deck -> weighed -> idle
        self.arrival: _Arrival | None = None
        self.last_record: EvidenceRecord | None = None
        self.board: tuple[Colour, tuple[str, ...]] = ("green", tuple(config.lane.idle_lines))
        self.barrier_open = False
        self.documents: Callable[[str], Any] = lambda kind: None
        self.alert: Callable[[dict[str, Any]], Awaitable[bool]] | None = None
        self._wake = asyncio.Event()
        self._card: tuple[str, float] | None = None
        self._previous_reading: IndicatorReading | None = None
        self._weighed_at_s = 0.0
        #: per weighing, ms from the reading that made the window stable to the record stored and to the
        #: board and barrier acknowledged (bench/weighbridge_decision.py)
        self.output = _BoardNotice(self)
        self.timings: deque[dict[str, float]] = deque(maxlen=1000)

    def apply_config(self, config: Config) -> None:
        self.config = config
        self.recorder.config = config

    # -- inputs ------------------------------------------------------------------------------------

    def card_read(self, card_id: str) -> None:
        """An RFID/IC card was read at the entry: it joins the truck that is arriving or next to arrive.
        The card reader's driver calls this; a site without a reader never does."""
        self._card = (card_id, time.monotonic())
        if self.arrival is not None and self.arrival.card_id is None:
            self.arrival.card_id = card_id

    def _on_reading(self, reading: IndicatorReading) -> None:
        self.monitor.add(reading)
        previous, self._previous_reading = self._previous_reading, reading
        arrival = self.arrival
        if (
            arrival is not None
            and self.state == "on_deck"
            and previous is not None
            and reading.host_time_s - previous.host_time_s <= self.params.max_gap_s
        ):
            beams = self.beams.current(reading.host_time_s)
            if beams is not None and not beams.blocked and not arrival.intrusion.intruded:
                weight = abs(reading.weight_kg or 0.0)
                step_kg = max(10 * self.params.division_kg, 0.05 * weight)
                arrival.flag(anticheat.remote_control_step(previous, reading, step_kg))
        self._wake.set()

    def _on_beams(self, beams: BeamReading) -> None:
        self._wake.set()

    def _on_axle(self, passage: AxlePassage) -> None:
        if passage.strip == "entry":  # the strip at the deck's entry end; an exit strip counts nothing
            self.axle_counter.add(passage.host_time_s, passage.tyre, passage.reverse)

    def _registered(self, plate: str | None) -> tuple[int | None, tuple[int, ...] | None] | None:
        """The central registry's axle count and groups for ``plate`` (downlink kind registry), if any."""
        document = self.documents("registry")
        if document is None or not plate:
            return None
        if self._registry[0] != id(document):
            self._registry = (id(document), by_plate(document.vehicles))
        found = self._registry[1].get(plate)
        return None if found is None else (found.axle_count, found.axle_groups)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        wb = self.config.weighbridge
        if wb.read_plates and (wb.entry_camera or wb.exit_camera):
            fix_mmap_threshold()  # as the lane does, before the models and pictures are allocated
            try:
                self.reader = await asyncio.get_running_loop().run_in_executor(
                    self._reader_thread, reader_for, self.config.plates
                )
            except PlateModelError as exc:
                self.reader_error = str(exc)
                log.error("weighbridge: plate pictures without a plate in their name stay unread: %s", exc)

    def tasks(self, stop: asyncio.Event) -> dict[str, Any]:
        drivers: dict[str, Any] = {
            "indicator": self.indicator,
            "position": self.beams,
            "display": self.display,
            "barrier": self.barrier,
        }
        if self.card_reader is not None:
            drivers["card_reader"] = self.card_reader
        if self.voice is not None:
            drivers["voice"] = self.voice
        if self.axle_sensor is not None:
            drivers["axle_sensor"] = self.axle_sensor
        if self.entry_barrier is not None:
            drivers["entry_barrier"] = self.entry_barrier
        return {
            **{f"driver-{name}": driver.run(stop) for name, driver in drivers.items()},
            "weigh": self._visit_loop(stop),
            "display-initial": self._initial_display(),
        }

    async def close(self) -> None:
        self.visits.close()
        self._reader_thread.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> None:
        """Once a second (the station's housekeeping): nothing to expire; the loop runs on readings."""

    async def finish(self, wait_s: float) -> int:
        """On SIGTERM: a truck whose reading is settling is weighed first (at most ``wait_s``).  Returns 1
        when a truck is still on the deck unweighed: nothing was taken, so nothing is lost; its visit
        goes on and it is weighed after the restart."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.sensing.busy.wait_idle(), wait_s)  # decided, and gone
        if self.state == "on_deck":
            log.warning("stopping with a truck on the deck, not yet weighed: it is weighed after the restart")
            return 1
        return 0

    async def _initial_display(self) -> None:
        for _ in range(50):
            if self.display.link.is_up:
                break
            await asyncio.sleep(0.1)
        await self._show("green", tuple(self.config.lane.idle_lines))
        if self.state == "idle":
            await self._entry(True)

    async def _entry(self, open_: bool) -> None:
        """Command the entry barrier, if the site has one and it is not already so."""
        if self.entry_barrier is None or self.entry_open is open_:
            return
        self.entry_open = open_
        result = await self._attempt(
            "entry barrier", self.entry_barrier.open() if open_ else self.entry_barrier.close()
        )
        if result != "ok":
            self.entry_open = None  # unknown: commanded again at the next chance

    # -- the loop ----------------------------------------------------------------------------------

    async def _visit_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            self._wake.clear()
            try:
                await self._step(time.monotonic())
            except Exception:  # one bad weighing must never stop the weighbridge
                log.exception("weighbridge step failed")
                await asyncio.sleep(0.5)

    async def _step(self, now: float) -> None:
        # Stability is judged at the instant of the newest reading while readings flow, so a weight
        # becomes stable with a reading (never between two); a silent indicator is judged at ``now``.
        latest = self.indicator.latest
        fresh = latest is not None and now - latest.host_time_s <= self.params.max_gap_s
        judgement = self.monitor.judge(latest.host_time_s if fresh and latest is not None else now)
        beams = self.beams.current(now)
        weight = self._deck_kg(now)
        occupied = (weight is not None and weight > self.config.weighbridge.occupied_kg) or (
            beams is not None and bool(beams.blocked)
        )
        if self.state == "idle":
            self._track_empty(now, judgement, beams)
            if occupied:
                await self._arrive(now)
        elif self.state == "on_deck":
            if self.entry_open is not False and beams is not None and not beams.blocked and occupied:
                await self._entry(False)  # fully on the deck: nobody follows it on
            await self._on_deck(now, judgement, beams, occupied, weight)
        elif self.state == "weighed":
            assert self.arrival is not None
            if occupied or weight is None:
                if (
                    occupied
                    and self.arrival.empty_seen_s > self.arrival.last_seen_s
                    and now - self.arrival.last_seen_s >= _EMPTY_BETWEEN_S
                ):
                    # the deck stood empty, and something is on it again before the weighed truck was
                    # declared gone: the next truck (or this one, back from unloading) drove straight on
                    await self._left()
                    await self._arrive(now)
                    return
                self.arrival.last_seen_s = now
            else:
                self.arrival.empty_seen_s = now
                if now - self.arrival.last_seen_s >= _GONE_AFTER_S:
                    await self._left()

    def _deck_kg(self, now: float) -> float | None:
        """The load on the deck now (median of the last readings), or None when the indicator is silent."""
        recent = [
            r.weight_kg
            for r in self.monitor.recent(now - _DECK_WINDOW_S)
            if r.weight_kg is not None and r.host_time_s <= now
        ]
        latest = self.indicator.latest
        if not recent or latest is None or now - latest.host_time_s > self.params.max_gap_s:
            return None
        return float(np.median(recent)) - self.monitor.zero.offset_kg

    def _track_empty(self, now: float, judgement: Judgement, beams: BeamReading | None) -> None:
        if not judgement.accepted or judgement.median_kg is None or (beams is not None and beams.blocked):
            return
        self.monitor.track_zero(now)
        zero = self.weighing.zero
        zero.residual_kg = round(judgement.median_kg, 1)
        zero.alarm = (
            abs(judgement.median_kg) > self.config.weighbridge.zero_band_kg or self.monitor.zero.out_of_range
        )

    async def _arrive(self, now: float) -> None:
        card = self._card[0] if self._card is not None and now - self._card[1] < 120 else None
        self._card = None
        self.arrival = _Arrival(now, time.time(), self.weighing.zero.residual_kg, card, last_seen_s=now)
        self.arrival.flag(
            anticheat.zero_not_returned(self.weighing.zero.residual_kg, self.config.weighbridge.zero_band_kg)
        )
        self.weighing.zero.residual_kg = None  # the next truck needs its own empty deck
        self.state = "on_deck"
        self.sensing.busy.set(True)
        log.info("truck arriving on the deck")
        await self._show("yellow", ("请驶上磅台", "停稳熄火 人员离开驾驶室"))

    async def _on_deck(
        self,
        now: float,
        judgement: Judgement,
        beams: BeamReading | None,
        occupied: bool,
        weight: float | None,
    ) -> None:
        arrival = self.arrival
        assert arrival is not None
        wb = self.config.weighbridge
        if occupied or weight is None:
            arrival.last_seen_s = now
        elif now - arrival.last_seen_s >= _GONE_AFTER_S:
            log.info("the truck left the deck without a weighing")
            await self._left()
            return
        if beams is not None and beams.ends_clear and weight is not None and weight > wb.occupied_kg:
            arrival.intrusion.arm(weight)  # the truck stands fully on: any beam blocked now is another
        if arrival.intrusion.observe(beams):
            assert beams is not None
            arrival.flag(anticheat.deck_intrusion(sorted(beams.blocked), None))
        refusal = _deck_refusal(beams, arrival.intrusion.armed)
        loaded = (
            judgement.accepted and judgement.weight_kg is not None and judgement.weight_kg > wb.occupied_kg
        )
        if refusal is None:
            arrival.flag(anticheat.remote_control_claim(judgement, self.params.division_kg))
        if refusal is None and loaded:
            await self._decide(now, judgement)
            return
        reason = refusal or _REASONS.get(judgement.reason, judgement.reason)
        if reason != arrival.refusal:
            arrival.refusal, arrival.refused_since_s = reason, now
            if reason in (
                "stale",
                "no_readings",
                "position_unknown",
                "beam_fault",
                "deck_intrusion",
                "over_range",
            ):
                await self._show(*_REFUSAL_TEXT[reason])
        since = arrival.refused_since_s if arrival.refused_since_s is not None else now
        if (
            reason == "off_deck"
            and now - since >= _OFF_DECK_NOTICE_S
            and self.board != _REFUSAL_TEXT["off_deck"]
        ):
            await self._show(*_REFUSAL_TEXT["off_deck"])
        if now - arrival.t_s >= wb.settle_timeout_s and not arrival.refused_record:
            arrival.refused_record = True
            await self._refused(now, reason)

    async def _left(self) -> None:
        if self.arrival is not None:  # axle passages after this belong to the next truck
            self._deck_left_s = self.arrival.last_seen_s
        self.state = "idle"
        self.arrival = None
        self.sensing.busy.set(False)
        if self.barrier_open:
            await self._attempt("barrier", self.barrier.close())
            self.barrier_open = False
        await asyncio.gather(self._show("green", tuple(self.config.lane.idle_lines)), self._entry(True))

    # -- the decision ------------------------------------------------------------------------------

    async def _shot(self, camera: str, folder: str, since_wall_s: float, wait: bool) -> PlateShot | None:
        if not folder:
            return None
        deadline = time.monotonic() + (self.config.weighbridge.plate_wait_s if wait else 0.0)
        while True:
            shot = await asyncio.to_thread(latest_shot, camera, folder, since_wall_s)
            if shot is not None or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        if shot is None or shot.plate is not None or self.reader is None:
            return shot
        # One reader, one thread at a time (PlateReader is not thread-safe): the entry and exit
        # pictures are read one after the other.
        loop = asyncio.get_running_loop()
        plate = await loop.run_in_executor(self._reader_thread, _read_picture, self.reader, shot.path)
        return shot if plate is None else replace(shot, plate=plate, read_by="reader")

    def _visit_for(self, plate: str | None, card_id: str | None) -> tuple[Visit, str]:
        """The visit this weighing belongs to and its pass kind (blocking: SQLite)."""
        wb = self.config.weighbridge
        open_visit = self.visits.open_visit(plate, wb.visit_timeout_h * 3600)
        if wb.mode == "single":
            return (open_visit or Visit.new(plate, card_id)), "single"
        if open_visit is None:
            return Visit.new(plate, card_id), "tare"
        if open_visit.last_pass == "tare" and open_visit.last_verdict != Verdict.PASS.value:
            return open_visit, "tare"  # the tare itself was not valid: weigh it again
        return open_visit, "gross"

    async def _decide(self, now: float, judgement: Judgement) -> None:
        arrival = self.arrival
        assert arrival is not None and judgement.weight_kg is not None
        config = self.config
        wb = config.weighbridge
        latest = self.indicator.latest
        stable_t = latest.host_time_s if latest is not None else now
        weight = float(judgement.weight_kg)
        since = max(arrival.wall_s - _CAMERA_LEAD_S, self._weighed_at_s)
        entry_shot, exit_shot = await asyncio.gather(
            self._shot("entry", wb.entry_camera, since, wait=True),
            self._shot("exit", wb.exit_camera, since, wait=True),
        )
        entry_plate = entry_shot.plate if entry_shot is not None else None
        exit_plate = exit_shot.plate if exit_shot is not None else None
        card = wb.cards.get(arrival.card_id) if arrival.card_id else None
        plate = entry_plate or exit_plate or (card.plate if card is not None and card.plate else None)
        arrival.flag(anticheat.plate_mismatch(entry_plate, exit_plate))
        if card is not None and card.plate and plate and card.plate != plate:
            arrival.flag(
                anticheat.Cheat(
                    "plate_mismatch",
                    f"card {arrival.card_id} is issued to {card.plate}, the camera read {plate}",
                )
            )
        if arrival.visit is not None and arrival.visit[0].plate == plate:
            visit, pass_kind = arrival.visit
        else:
            visit, pass_kind = await asyncio.to_thread(self._visit_for, plate, arrival.card_id)
        vehicle = wb.vehicles.get(plate) if plate else None
        counted = self.axle_counter.since(self._deck_left_s) if self.axle_sensor is not None else None
        axle_count = resolve_axles(
            counted,
            (vehicle.axles, tuple(vehicle.axle_groups)) if vehicle is not None and vehicle.axles else None,
            self._registered(plate),
            wb.default_axles,
        )
        axle_notes = list(axle_count.notes)
        if self.axle_sensor is not None and counted is None:
            axle_notes.append(
                f"the axle sensor counted no axle (health: {self.axle_sensor.health().get('state', '?')});"
                f" the {axle_count.source}'s {axle_count.axles} axles are used: check devices.axle_sensor"
            )
        vclass = vehicle_class_for(axle_count.axles, axle_count.groups, config.rules.group_max_spacing_m)
        limit = gross_limit(vclass, [Tyre(t) for t in axle_count.tyres], self.limits)
        tare_kg: float | None = None
        tare_source: str | None = None
        if pass_kind == "tare":
            history = await asyncio.to_thread(self.visits.tares, plate)
            arrival.flag(anticheat.low_tare(weight, history, wb.low_tare_fraction))
        elif pass_kind == "gross" and visit.tare_kg is not None:
            tare_kg, tare_source = visit.tare_kg, "weighed"
        else:
            stored = vehicle.tare_kg if vehicle is not None and vehicle.tare_kg else None
            if stored is None:
                stored = await asyncio.to_thread(self.visits.stored_tare, plate)
            if stored is not None:
                tare_kg, tare_source = stored, "stored"
        if arrival.intrusion.intruded:  # the weight change since the truck stood alone, now known
            change = (
                None
                if arrival.intrusion.weight_at_arming_kg is None
                else weight - arrival.intrusion.weight_at_arming_kg
            )
            arrival.cheats = [
                anticheat.deck_intrusion(arrival.intrusion.beams, change)
                if c.check == "deck_intrusion"
                else c
                for c in arrival.cheats
            ]
        blocking = [f"{c.check}: {c.detail}" for c in arrival.cheats if c.check in BLOCKING_CHECKS]
        decision = decide(weight, limit, tolerance_factor=wb.tolerance_factor, unstable_reasons=blocking)
        net_kg = None if tare_kg is None or pass_kind == "tare" else round(weight - tare_kg, 1)
        label = plate or "车辆"
        colour, lines = board_text(
            decision.verdict, pass_kind, label, weight, limit.limit_kg, net_kg, decision.reasons
        )
        opens = decision.verdict is Verdict.PASS
        reasons = list(decision.reasons)
        reasons += [f"{c.check}: {c.detail}" for c in arrival.cheats if c.check not in BLOCKING_CHECKS]
        reasons += axle_notes
        if decision.verdict is Verdict.OVERWEIGHT:
            reasons.append(f"overloaded by {weight - limit.limit_kg:.0f} kg: unload and weigh again")
        continuing = visit.last_pass == pass_kind or (visit.last_pass is not None and pass_kind == "single")
        attempt = visit.attempts + 1 if continuing else 1
        previous = arrival.previous_record_id or visit.last_record_id
        record = self._record(
            stable_t,
            vclass,
            limit,
            decision.verdict,
            reasons,
            {
                "display_text": " / ".join(x for x in lines if x),
                "barrier_command": "open" if opens else "close",
            },
            weight,
            judgement.readings,
            RecordStatic(
                visit_id=visit.visit_id,
                pass_kind=pass_kind,
                gross_kg=None if pass_kind == "tare" else weight,
                tare_kg=weight if pass_kind == "tare" else tare_kg,
                net_kg=net_kg,
                tare_source="weighed" if pass_kind == "tare" else tare_source,
                previous_record_id=previous,
                attempt=attempt,
                enterprise_id=wb.enterprise_id or None,
                enterprise_name=wb.enterprise_name or None,
                cargo=(card.cargo if card is not None and card.cargo else wb.cargo) or None,
                waybill=(card.waybill if card is not None else "") or None,
                carrier=(
                    card.carrier
                    if card is not None and card.carrier
                    else (vehicle.carrier if vehicle else "")
                )
                or None,
                driver=(
                    card.driver if card is not None and card.driver else (vehicle.driver if vehicle else "")
                )
                or None,
                card_id=arrival.card_id,
                entry_plate=entry_plate,
                exit_plate=exit_plate,
                cheating=[RecordStaticCheat(**c.as_record()) for c in arrival.cheats],
                axle_source=axle_count.source,
            ),
            plate,
            [s for s in (entry_shot, exit_shot) if s is not None],
        )
        # The record first: on disk (signed, queued for upload) before the barrier may open.
        record = await self._store(record)
        stored_s = time.monotonic()
        closed = pass_kind in ("gross", "single") and decision.verdict is Verdict.PASS
        visit = visit.weighed(record.id, pass_kind, decision.verdict.value, closed=closed)
        if pass_kind == "tare" and decision.verdict is Verdict.PASS:
            visit = replace(visit, tare_kg=weight, tare_source="weighed")
        try:
            await asyncio.to_thread(
                self._save_visit,
                visit,
                plate if pass_kind == "tare" and decision.verdict is Verdict.PASS else None,
                weight,
                record.id,
            )
        except sqlite3.Error as exc:  # the weighing is on disk already; only its link to the next is lost
            log.error("visit %s not saved (%s): its next weighing will not link to it", visit.visit_id, exc)
        arrival.intrusion.disarm()
        # Weighed from here on (the record and the visit are on disk): the station's views say so
        # before the board does, and the barrier's state is the one commanded, as after a failed
        # command.
        self._weighed_at_s = time.time()
        self.state = "weighed"
        self.barrier_open = opens
        arrival.last_seen_s = now
        self._speak(lines)
        await asyncio.gather(
            self._show(colour, lines),
            self._attempt("barrier", self.barrier.open() if opens else self.barrier.close()),
            self._entry(not opens),  # a refused truck backs off through the entry end
        )
        decided = time.monotonic()
        self.timings.append(
            {"stored_ms": 1000 * (stored_s - stable_t), "decided_ms": 1000 * (decided - stable_t)}
        )
        log.info(
            "weighed %s: %s %s %.0f kg (%s) in %.0f ms after stable",
            label,
            pass_kind,
            decision.verdict.value,
            weight,
            visit.visit_id,
            1000 * (decided - stable_t),
        )

    def _save_visit(self, visit: Visit, tare_plate: str | None, tare_kg: float, record_id: str) -> None:
        self.visits.save(visit)
        if tare_plate:
            self.visits.add_tare(tare_plate, tare_kg, record_id)

    async def _refused(self, now: float, reason: str) -> None:
        """No stable, position-checked reading within the settle timeout: a re-weigh record says why."""
        arrival = self.arrival
        assert arrival is not None
        colour, lines = _REFUSAL_TEXT.get(reason, _REFUSAL_TEXT["timeout"])
        wb = self.config.weighbridge
        since = max(arrival.wall_s - _CAMERA_LEAD_S, self._weighed_at_s)
        shots = [
            s
            for s in await asyncio.gather(
                self._shot("entry", wb.entry_camera, since, wait=False),
                self._shot("exit", wb.exit_camera, since, wait=False),
            )
            if s is not None
        ]
        plate = next((s.plate for s in shots if s.plate), None)
        visit, pass_kind = arrival.visit = await asyncio.to_thread(self._visit_for, plate, arrival.card_id)
        vclass = vehicle_class_for(self.config.weighbridge.default_axles)
        limit = gross_limit(vclass, [Tyre.DUAL] * vclass.axle_count, self.limits)
        record = self._record(
            now,
            vclass,
            limit,
            Verdict.REWEIGH,
            [f"no weighing within {self.config.weighbridge.settle_timeout_s:.0f} s: {reason}"],
            {"display_text": " / ".join(lines), "barrier_command": "close"},
            None,
            0,
            RecordStatic(
                visit_id=visit.visit_id,
                pass_kind=pass_kind,
                previous_record_id=arrival.previous_record_id or visit.last_record_id,
                attempt=visit.attempts + 1 if visit.last_pass == pass_kind else 1,
                entry_plate=next((s.plate for s in shots if s.camera == "entry"), None),
                exit_plate=next((s.plate for s in shots if s.camera == "exit"), None),
                card_id=arrival.card_id,
                enterprise_id=self.config.weighbridge.enterprise_id or None,
                enterprise_name=self.config.weighbridge.enterprise_name or None,
                cheating=[RecordStaticCheat(**c.as_record()) for c in arrival.cheats],
                refused_reading=reason,
            ),
            plate,
            shots,
        )
        stored = await self._store(record)
        arrival.previous_record_id = stored.id
        self._speak(lines)
        await asyncio.gather(self._show(colour, lines), self._entry(True))  # it may have to back off

    def _record(
        self,
        time_s: float,
        vclass: VehicleClass,
        limit: Any,
        verdict: Verdict,
        reasons: list[str],
        lane_output: dict[str, str],
        weight_kg: float | None,
        readings: int,
        static: RecordStatic,
        plate: str | None,
        shots: list[PlateShot],
    ) -> EvidenceRecord:
        arrival = self.arrival
        assert arrival is not None
        utc = self.recorder.clock.utc
        record_id = str(uuid.uuid4())
        attachments: list[dict[str, Any]] = []
        folder = Path(self.config.evidence.database).parent / "attachments"
        for shot in shots:
            try:
                attachments.append(store_shot(folder, record_id, shot))
            except OSError as exc:  # a full disk loses the picture, never the record
                log.error("picture %s of record %s not stored: %s", shot.path, record_id, exc)
        decided = time.monotonic()
        tolerance = self.config.weighbridge.tolerance_factor
        self.vehicles += 1
        return EvidenceRecord(
            id=record_id,
            site_id=self.config.site.id,
            lane=self.config.site.lane,
            vehicle_number=self.vehicles,
            time_utc=utc(time_s),
            plate=plate,
            axle_count=vclass.axle_count,
            vehicle_class=vclass.code,
            body=vclass.body.value,
            axle_groups=list(vclass.groups),
            wim=None if weight_kg is None else RecordWim(gross_kg=weight_kg, samples_used=readings),
            limit=RecordLimit(
                limit_kg=limit.limit_kg,
                base_limit_kg=limit.base_limit_kg,
                rule_id=limit.rule_id,
                rule_text=limit.rule_text,
                source=limit.source,
                deductions=list(limit.deductions),
                notes=list(limit.notes),
                tolerance_factor=tolerance,
                threshold_kg=round(limit.limit_kg * tolerance, 1),
            ),
            verdict=verdict,
            reasons=reasons,
            lane_output=lane_output,
            timing=RecordTiming(
                curtain_enter_utc=utc(arrival.t_s),
                decided_utc=utc(decided),
                verdict_latency_ms=round((decided - time_s) * 1000, 1),
            ),
            devices=self.device_health(),
            software=Software(version=__version__),
            attachments=attachments,
            static=static,
        )

    async def _store(self, record: EvidenceRecord) -> EvidenceRecord:
        await self.recorder.store_record(record)
        self.last_record = record
        return record

    # -- output ------------------------------------------------------------------------------------

    async def _attempt(self, what: str, coro: Awaitable[None]) -> str:
        try:
            await coro
        except DriverError as exc:
            log.error("weighbridge output: %s failed: %s", what, exc)
            return f"failed: {exc}"
        return "ok"

    async def _show(self, colour: Colour, lines: tuple[str, ...]) -> str:
        lines = with_notice(lines, self.output.notice())
        self.board = (colour, lines)
        return await self._attempt("display", self.display.show(lines, colour))

    def _speak(self, lines: tuple[str, ...]) -> None:
        """Say ``lines`` on the voice module, if any, without waiting: the barrier never waits for it;
        the driver logs and counts what it could not say."""
        if self.voice is None:
            return
        task = asyncio.get_running_loop().create_task(self.voice.say(spoken_text(lines)))
        self._speaking.add(task)
        task.add_done_callback(self._speaking.discard)

    # -- diagnostics -------------------------------------------------------------------------------

    def device_health(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator.health(),
            "position": self.beams.health(),
            "display": self.display.health(),
            "barrier": self.barrier.health(),
            **({} if self.card_reader is None else {"card_reader": self.card_reader.health()}),
            **({} if self.voice is None else {"voice": self.voice.health()}),
            **({} if self.axle_sensor is None else {"axle_sensor": self.axle_sensor.health()}),
            **({} if self.entry_barrier is None else {"entry_barrier": self.entry_barrier.health()}),
        }

    def deck_state(self, readings_since_s: float | None = None) -> dict[str, Any]:
        """What the deck is doing now, for the technician console: read-only, from the state the visit
        loop keeps (the indicator's latest reading, the stability monitor, the beams, the arrival, the
        last record), judged as :meth:`_step` judges it; nothing here changes the flow.

        ``readings_since_s`` (host monotonic): also the indicator's readings received after it, as
        ``readings`` ([host_time_s, kg or None]), from the monitor's short window (about 1.5 s).
        """
        now = time.monotonic()
        latest = self.indicator.latest
        fresh = latest is not None and now - latest.host_time_s <= self.params.max_gap_s
        judgement = self.monitor.judge(latest.host_time_s if fresh and latest is not None else now)
        beams = self.beams.current(now)
        weight = None if latest is None or not fresh else latest.weight_kg
        deck_kg = self._deck_kg(now)
        loaded = deck_kg is not None and deck_kg > self.config.weighbridge.occupied_kg
        arrival = self.arrival
        refusal = _deck_refusal(beams, arrival is not None and arrival.intrusion.armed)
        position = {
            None: "fully_on" if loaded else "clear",
            "off_deck": "off_centre",
            "deck_intrusion": "intrusion",
            "beam_fault": "beam_fault",
            "position_unknown": "unknown",
        }[refusal]
        record = self.last_record
        visit: dict[str, Any] | None = None
        if self.state == "on_deck" and arrival is not None:
            known = arrival.visit
            visit = {
                "visit_id": None if known is None else known[0].visit_id,
                "plate": None if known is None else known[0].plate,
                "pass_kind": None if known is None else known[1],
                "card_id": arrival.card_id,
                "on_deck_s": round(now - arrival.t_s, 1),
                "verdict": None,
            }
        elif self.state == "weighed" and record is not None and record.static is not None:
            visit = {
                "visit_id": record.static.visit_id,
                "plate": record.plate,
                "pass_kind": record.static.pass_kind,
                "card_id": record.static.card_id,
                "on_deck_s": None if arrival is None else round(now - arrival.t_s, 1),
                "verdict": record.verdict.value,
            }
        if self.state == "idle":
            waiting = "truck"
        elif self.state == "weighed":
            waiting = "leave" if self.barrier_open else "back_off"
        elif refusal is None and judgement.accepted:
            occupied_kg = self.config.weighbridge.occupied_kg
            # stable and fully on: the plates, the record, then board and barrier (as _on_deck decides);
            # stable but empty: the truck is gone once the deck stays empty (or it comes back)
            waiting = "decision" if (judgement.weight_kg or 0.0) > occupied_kg else "gone"
        else:
            waiting = refusal or judgement.reason
        readings: list[list[float | None]] = []
        if readings_since_s is not None:
            readings = [[r.host_time_s, r.weight_kg] for r in self.monitor.recent(readings_since_s)]
        over = judgement.reason == "over_range" or (
            fresh
            and latest is not None
            and (latest.over_range or (latest.weight_kg or 0.0) > self.params.over_range_kg)
        )
        return {
            "state": self.state,
            "weight_kg": weight,
            "stable_weight_kg": judgement.weight_kg if judgement.accepted else None,
            "zero_offset_kg": round(self.monitor.zero.offset_kg, 1),
            "indicator_fresh": fresh,
            "stable": judgement.accepted,
            "motion": judgement.reason in ("motion", "indicator_motion")
            or bool(fresh and latest is not None and latest.motion),
            "over_range": bool(over),
            "stability": judgement.reason,
            "position": position,
            "beams_blocked": None if beams is None else sorted(beams.blocked),
            "beam_faults": None if beams is None else sorted(beams.faults),
            "visit": visit,
            "waiting_for": waiting,
            "settle_timeout_s": self.config.weighbridge.settle_timeout_s,
            "readings": readings,
        }

    def health(self) -> dict[str, Any]:
        latest = self.indicator.latest
        return {
            "weighbridge": {
                "state": self.state,
                "weight_kg": None if latest is None else latest.weight_kg,
                "board": list(self.board[1]),
                "zero_residual_kg": self.weighing.zero.residual_kg,
                "zero_alarm": self.weighing.zero.alarm,
                "busy": self.sensing.busy.state(),
                "exit_barrier_open": self.barrier_open,
                **({} if self.entry_barrier is None else {"entry_barrier_open": self.entry_open}),
            },
            "vehicles": self.vehicles,
        }
