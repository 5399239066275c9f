"""Static calibration of the weighing platforms with certified test weights: the wizard's core.

Independent of the terminal: counts come from a :class:`CountSource` (the real digitiser driver in the
field, :class:`DigitiserCountSource`), and the technician is reached through a :class:`Prompter` (click
prompts in ``edge calibrate static``, a test object that moves the simulator's weights in the tests).

For each platform, in driving order:

1. the scale is empty: the platform's zero (per cell) is the mean of a stable reading;
2. the test weight stands at the platform centre: the platform's span factor (true mass / mass computed
   with the nominal span) scales the nominal ``kg_per_count`` of its cells;
3. per-cell method only: the weight stands over each corner in turn; the cell spans solve
   ``sum_c kg_per_count_c * (counts_c - zero_c) = mass`` for the five readings (centre and corners) by
   least squares, so a cell that was installed with a gain error is corrected on its own (corner test,
   as in OIML R76 eccentricity testing);
4. a check weighing off centre reports the error left after calibration.

A reading whose samples scatter more than ``max_noise_kg`` (something moving on the scale, vibration, a
loose cable) is refused and taken again; so is a span that differs from nominal by more than
``max_span_deviation`` (a wrong mass entered, the weight not on that platform, a broken cell).

Platforms are numbered from 0 in code and in :class:`Instruction`, from 1 in what the technician reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

from drivers.link import LinkConfig, LinkState
from drivers.wim_digitiser.driver import LoadSamples, WimDigitiser
from edge.calibration.store import UTC_FORMAT, Calibration, PlatformCheck
from edge.errors import EdgeError

if TYPE_CHECKING:
    from edge.config import Config

__all__ = [
    "CENTRE",
    "CHECK_POSITION",
    "CORNER_NAMES",
    "CORNER_POSITIONS",
    "CalibrationError",
    "CountReading",
    "CountSource",
    "DigitiserCountSource",
    "DigitiserUnavailable",
    "Instruction",
    "Prompter",
    "SpanRefused",
    "UnstableScale",
    "calibrate_static",
]

F64 = npt.NDArray[np.float64]

CORNER_NAMES = ("entry-left", "entry-right", "exit-left", "exit-right")
"""Cell order within a platform (channel = 4 * platform + corner), as in firmware_sim.physics.CORNERS."""
_CORNER_NAMES_ZH = ("入口左", "入口右", "出口左", "出口右")

CENTRE = (0.5, 0.5)
CORNER_POSITIONS = ((0.1, 0.1), (0.1, 0.9), (0.9, 0.1), (0.9, 0.9))
"""(u, w) of the corner tests: u along the platform from the entry edge, w across it from the left edge."""
CHECK_POSITION = (0.25, 0.75)
"""Off-centre check weighing: a quarter in from the entry edge and from the right edge."""


class CalibrationError(EdgeError):
    """Raised when a calibration cannot be completed; the message says what to do."""


class UnstableScale(CalibrationError):
    """Raised when readings stay unstable (something moving on the scale, vibration, a faulty cell)."""


class SpanRefused(CalibrationError):
    """Raised when a span is implausible: wrong test mass entered, weight misplaced, or a broken cell."""


class DigitiserUnavailable(CalibrationError):
    """Raised when the digitiser's port cannot be opened or the digitiser sends no usable samples."""


@dataclass(frozen=True, eq=False)
class CountReading:
    """Raw counts averaged over a period: per-channel mean and standard deviation of the samples."""

    mean_counts: F64
    std_counts: F64
    n_samples: int


class CountSource(Protocol):
    """Where the wizard gets counts from."""

    @property
    def n_channels(self) -> int: ...

    async def read(self, period_s: float) -> CountReading:
        """Collect samples arriving from now on for ``period_s`` and average them."""
        ...


class Prompter(Protocol):
    """How the wizard talks to the technician."""

    async def step(self, instruction: str) -> None:
        """Show ``instruction`` (an :class:`Instruction`) and return when the technician has done it."""
        ...

    async def ask_float(self, question: str) -> float: ...

    def show(self, message: str) -> None: ...


class Instruction(str):
    """Text for the technician that also says, machine-readably, what the scale should carry.

    ``action`` is ``"empty"`` (nothing on the scale) or ``"place"`` (the test weight on ``platform``,
    0 = entry, at ``u`` along from the entry edge and ``w`` across from the left edge, fractions).
    """

    action: Literal["empty", "place"]
    platform: int
    u: float
    w: float

    def __new__(
        cls,
        text: str,
        action: Literal["empty", "place"],
        platform: int,
        u: float = math.nan,
        w: float = math.nan,
    ) -> Instruction:
        self = super().__new__(cls, text)
        self.action = action
        self.platform = platform
        self.u = u
        self.w = w
        return self


def _nominal(nominal_kg_per_count: float | Sequence[float], n_channels: int) -> F64:
    if isinstance(nominal_kg_per_count, int | float):
        nominal = np.full(n_channels, float(nominal_kg_per_count))
    else:
        nominal = np.asarray(nominal_kg_per_count, dtype=np.float64)
    if nominal.shape != (n_channels,) or not np.all(nominal > 0):
        raise ValueError(f"nominal_kg_per_count must be one value or {n_channels} values, all > 0")
    return nominal


def _cell_name(platform: int, corner: int) -> str:
    return f"platform {platform + 1} {CORNER_NAMES[corner]} cell (channel {4 * platform + corner})"


class _Wizard:
    def __init__(
        self,
        source: CountSource,
        prompter: Prompter,
        *,
        n_platforms: int,
        cells_per_platform: int,
        nominal: F64,
        settle_s: float,
        average_s: float,
        max_noise_kg: float,
        max_span_deviation: float,
        max_check_error_fraction: float,
        max_attempts: int,
    ) -> None:
        self.source = source
        self.prompter = prompter
        self.n_platforms = n_platforms
        self.cells = cells_per_platform
        self.nominal = nominal
        self.settle_s = settle_s
        self.average_s = average_s
        self.max_noise_kg = max_noise_kg
        self.max_span_deviation = max_span_deviation
        self.max_check_error_fraction = max_check_error_fraction
        self.max_attempts = max_attempts

    def channels(self, platform: int) -> slice:
        return slice(platform * self.cells, (platform + 1) * self.cells)

    def corner_label(self, platform: int, corner: int) -> str:
        if self.cells == 4:
            return _cell_name(platform, corner)
        return f"platform {platform + 1} cell {corner + 1} (channel {platform * self.cells + corner})"

    async def ask_mass(self, question: str) -> float:
        for _ in range(self.max_attempts):
            mass = await self.prompter.ask_float(question)
            if math.isfinite(mass) and mass > 0:
                return float(mass)
            self.prompter.show(f"{mass} is not a mass: enter the certified mass in kg, e.g. 2000")
        raise CalibrationError("no valid test-weight mass was entered; nothing was calibrated")

    def instability(self, reading: CountReading, platform: int) -> str | None:
        """Why ``reading`` cannot be used, or None: sample scatter above max_noise_kg on any cell."""
        ch = self.channels(platform)
        noise_kg = reading.std_counts[ch] * self.nominal[ch]
        worst = int(np.argmax(noise_kg))
        if noise_kg[worst] <= self.max_noise_kg:
            return None
        return (
            f"unstable reading: the {self.corner_label(platform, worst)} scatters by {noise_kg[worst]:.0f} kg"
            f" (standard deviation; the limit is {self.max_noise_kg:.0f} kg). Something is moving on the"
            " scale (people, a vehicle, a loose weight), or the cell or its cable is faulty. Keep everyone"
            " off the platform and wait until it is still. / 读数不稳定：秤台上有人或物体在动，请保持秤台静止后重试。"
        )

    async def stable_reading(self, instruction: Instruction) -> CountReading:
        problem = ""
        for _ in range(self.max_attempts):
            await self.prompter.step(instruction)
            await asyncio.sleep(self.settle_s)
            reading = await self.source.read(self.average_s)
            found = self.instability(reading, instruction.platform)
            if found is None:
                return reading
            problem = found
            self.prompter.show(problem)
        raise UnstableScale(
            f"{problem} Gave up after {self.max_attempts} readings; nothing was calibrated. If the platform"
            " is really still, check the cell cables and the digitiser (`edge calibrate` refuses noisy"
            " readings above --max-noise-kg)."
        )

    def load_kg(self, delta_counts: F64, channels: slice) -> float:
        """Load from count changes with the nominal span (kg)."""
        return float(delta_counts[channels] @ self.nominal[channels])

    def placement_problem(self, delta_counts: F64, platform: int, mass_kg: float) -> str | None:
        """Why the weight does not seem to be on ``platform``, or None."""
        on_platform = self.load_kg(delta_counts, self.channels(platform))
        elsewhere = [
            (self.load_kg(delta_counts, self.channels(p)), p)
            for p in range(self.n_platforms)
            if p != platform
        ]
        if elsewhere:
            other_kg, other = max(elsewhere)
            if other_kg > 0.25 * max(on_platform, mass_kg * 0.1):
                return (
                    f"about {other_kg:.0f} kg appeared on platform {other + 1} but the test weight belongs on"
                    f" platform {platform + 1}: move it onto platform {platform + 1} (the whole weight, off the"
                    " gaps between platforms)"
                )
        if on_platform < 0.1 * mass_kg:
            return (
                f"platform {platform + 1} shows only {on_platform:.0f} kg with a {mass_kg:.0f} kg test weight:"
                " is the weight on it? If it is, a cell or the digitiser cable of that platform is faulty"
            )
        return None

    async def centre_span(
        self, platform: int, zero_reading: CountReading, mass_kg: float
    ) -> tuple[float, float, F64]:
        """(span factor, mass, centre count changes) from the weight at the centre; re-asks on refusal."""
        ch = self.channels(platform)
        text = (
            f"平台{platform + 1} 砝码放中央 / Platform {platform + 1}: place the test weight at the CENTRE"
            " of the platform, then step away."
        )
        instruction = Instruction(text, "place", platform, *CENTRE)
        for attempt in range(1, self.max_attempts + 1):
            reading = await self.stable_reading(instruction)
            delta = reading.mean_counts - zero_reading.mean_counts
            problem = self.placement_problem(delta, platform, mass_kg)
            if problem is None:
                nominal_kg = self.load_kg(delta, ch)
                factor = mass_kg / nominal_kg
                if abs(factor - 1.0) <= self.max_span_deviation:
                    return factor, mass_kg, delta
                problem = (
                    f"span refused: platform {platform + 1} reads {nominal_kg:.1f} kg with the nominal span"
                    f" for a {mass_kg:.1f} kg test weight, a span factor of {factor:.4f}, which differs from"
                    f" nominal by {abs(factor - 1.0) * 100:.1f} % (more than {self.max_span_deviation * 100:.0f}"
                    " %). Check the mass you entered against the certificate, that the whole weight stands on"
                    " this platform, and the cells and cables (a broken cell reads low)."
                    " / 量程偏差过大：请核对砝码质量、位置和传感器。"
                )
            self.prompter.show(problem)
            if attempt == self.max_attempts:
                raise SpanRefused(f"{problem} Gave up after {attempt} tries; nothing was calibrated.")
            mass_kg = await self.ask_mass(
                f"砝码质量 / Test weight mass (kg, as on the certificate) for platform {platform + 1}"
            )
        raise AssertionError("unreachable")

    async def corner_gains(
        self, platform: int, zero_reading: CountReading, mass_kg: float, centre_delta: F64
    ) -> tuple[F64, float]:
        """Per-cell kg_per_count of ``platform`` from the corner tests; and the RMS misfit (kg)."""
        ch = self.channels(platform)
        rows = [centre_delta[ch]]
        for corner, (u, w) in enumerate(CORNER_POSITIONS):
            text = (
                f"平台{platform + 1} 砝码放{_CORNER_NAMES_ZH[corner]}角 / Platform {platform + 1}: place the"
                f" test weight over the {CORNER_NAMES[corner].upper()} corner (about 10 % in from both"
                " edges), then step away."
            )
            instruction = Instruction(text, "place", platform, u, w)
            for attempt in range(1, self.max_attempts + 1):
                reading = await self.stable_reading(instruction)
                delta = (reading.mean_counts - zero_reading.mean_counts)[ch]
                cell_kg = delta * self.nominal[ch]
                heaviest = int(np.argmax(cell_kg))
                if heaviest == corner:
                    rows.append(delta)
                    break
                problem = (
                    f"most of the load is on the {CORNER_NAMES[heaviest]} cell, not the {CORNER_NAMES[corner]}"
                    f" one: put the weight over the {CORNER_NAMES[corner]} corner of platform {platform + 1}"
                    " (left is the driver's left when driving in)"
                )
                self.prompter.show(problem)
                if attempt == self.max_attempts:
                    raise CalibrationError(
                        f"{problem}. Gave up after {attempt} tries; nothing was calibrated."
                    )
        equations = np.array(rows)
        masses = np.full(len(rows), mass_kg)
        gains, *_ = np.linalg.lstsq(equations, masses, rcond=None)
        residual_kg = float(np.sqrt(np.mean((equations @ gains - masses) ** 2)))
        relative = gains / self.nominal[ch]
        worst = int(np.argmax(np.abs(relative - 1.0)))
        if not np.all(gains > 0) or abs(relative[worst] - 1.0) > self.max_span_deviation:
            raise SpanRefused(
                f"span refused: the {self.corner_label(platform, worst)} needs {relative[worst]:.4f} x its"
                f" nominal span, more than {self.max_span_deviation * 100:.0f} % off. The cell or its cable"
                " is probably broken, or something touches the platform at that corner (stones, a bent"
                " stop); repair it and calibrate again. Nothing was calibrated. / 传感器量程异常，请检修后重新标定。"
            )
        if residual_kg > self.max_check_error_fraction * mass_kg:
            self.prompter.show(
                f"warning: the corner readings of platform {platform + 1} disagree by {residual_kg:.1f} kg"
                " (RMS): the weight may have moved, or something touches the platform (binding)."
            )
        return gains, residual_kg

    async def check(self, platform: int, zero: F64, kg_per_count: F64, mass_kg: float) -> PlatformCheck:
        ch = self.channels(platform)
        u, w = CHECK_POSITION
        text = (
            f"平台{platform + 1} 复核：砝码放入口右侧四分之一处 / Platform {platform + 1} check: place the test"
            " weight a QUARTER in from the ENTRY edge and a quarter in from the RIGHT edge, then step away."
        )
        reading = await self.stable_reading(Instruction(text, "place", platform, u, w))
        measured_kg = float((reading.mean_counts[ch] - zero[ch]) @ kg_per_count[ch])
        error_kg = measured_kg - mass_kg
        error_fraction = error_kg / mass_kg
        passed = abs(error_fraction) <= self.max_check_error_fraction
        self.prompter.show(
            f"platform {platform + 1} check: {measured_kg:.1f} kg for {mass_kg:.1f} kg, error {error_kg:+.1f} kg"
            f" ({error_fraction * 100:+.3f} %) {'OK' if passed else 'TOO LARGE'}"
            f" (limit {self.max_check_error_fraction * 100:.2f} %)"
        )
        return PlatformCheck(
            platform=platform,
            test_weight_kg=mass_kg,
            span_factor=1.0,  # filled in by the caller
            check_u=u,
            check_w=w,
            check_measured_kg=round(measured_kg, 2),
            check_error_kg=round(error_kg, 2),
            check_error_pct=round(error_fraction * 100, 4),
            passed=passed,
        )


async def calibrate_static(
    source: CountSource,
    prompter: Prompter,
    *,
    n_platforms: int,
    nominal_kg_per_count: float | Sequence[float],
    technician: str,
    reference: str,
    cells_per_platform: int = 4,
    settle_s: float = 2.0,
    average_s: float = 3.0,
    per_cell: bool = False,
    max_noise_kg: float = 25.0,
    max_span_deviation: float = 0.10,
    max_check_error_fraction: float = 0.0025,
    max_attempts: int = 3,
    valid_days: int = 365,
    notes: str = "",
    now: datetime | None = None,
) -> Calibration:
    """Guide a static calibration and return it (not yet saved: see :func:`save_calibration`).

    ``max_check_error_fraction`` defaults to 0.25 %, the initial-verification MPE of WIM class 0.5
    (OIML R134, GB/T 21296.1-2020): a static calibration should do better than the
    class it serves.  Raises :class:`CalibrationError` (and its subclasses) with what to do.
    """
    n_channels = n_platforms * cells_per_platform
    if n_platforms < 1 or cells_per_platform < 1:
        raise ValueError("need at least one platform and one cell per platform")
    if per_cell and cells_per_platform != 4:
        raise ValueError("the per-cell corner test needs 4 cells per platform")
    if not technician.strip() or not reference.strip():
        raise CalibrationError(
            "a calibration needs the technician's name and the test-weight certificate reference"
        )
    if source.n_channels != n_channels:
        raise CalibrationError(
            f"the count source has {source.n_channels} channels but the scale has {n_channels} cells"
            f" ({n_platforms} platforms x {cells_per_platform}); check scale.platform_lengths_m"
        )
    nominal = _nominal(nominal_kg_per_count, n_channels)
    wizard = _Wizard(
        source,
        prompter,
        n_platforms=n_platforms,
        cells_per_platform=cells_per_platform,
        nominal=nominal,
        settle_s=settle_s,
        average_s=average_s,
        max_noise_kg=max_noise_kg,
        max_span_deviation=max_span_deviation,
        max_check_error_fraction=max_check_error_fraction,
        max_attempts=max(1, max_attempts),
    )
    method: Literal["platform", "cell"] = "cell" if per_cell else "platform"
    readings_per_platform = 7 if per_cell else 3
    prompter.show(
        f"静态标定 / Static calibration, {method} method: {n_platforms} platform(s), {readings_per_platform}"
        f" readings each ({settle_s:g} s settling + {average_s:g} s averaging). Keep the lane closed to"
        " traffic and everyone off the platforms while a reading is taken."
    )
    mass_kg = await wizard.ask_mass("砝码质量 / Test weight mass (kg, as on the certificate)")
    zero = np.empty(n_channels)
    kg_per_count = nominal.copy()
    checks: list[PlatformCheck] = []
    masses: list[float] = []
    for platform in range(n_platforms):
        ch = wizard.channels(platform)
        text = (
            f"平台{platform + 1} 清空秤台 / Platform {platform + 1}: remove every weight, person and vehicle"
            " from the WHOLE scale."
        )
        empty = await wizard.stable_reading(Instruction(text, "empty", platform))
        zero[ch] = empty.mean_counts[ch]
        noise_kg = float(np.max(empty.std_counts[ch] * nominal[ch]))
        prompter.show(f"platform {platform + 1} zero taken (noise {noise_kg:.1f} kg per sample)")

        factor, mass_kg, centre_delta = await wizard.centre_span(platform, empty, mass_kg)
        kg_per_count[ch] = nominal[ch] * factor
        prompter.show(f"platform {platform + 1} span factor {factor:.5f} (1 = nominal)")
        residual_kg: float | None = None
        if per_cell:
            gains, residual_kg = await wizard.corner_gains(platform, empty, mass_kg, centre_delta)
            kg_per_count[ch] = gains
            relative = ", ".join(
                f"{name} {g:.4f}" for name, g in zip(CORNER_NAMES, gains / nominal[ch], strict=True)
            )
            prompter.show(f"platform {platform + 1} cell spans x nominal: {relative}")
        check = await wizard.check(platform, zero, kg_per_count, mass_kg)
        checks.append(
            replace(
                check,
                span_factor=round(factor, 6),
                corner_residual_kg=None if residual_kg is None else round(residual_kg, 2),
            )
        )
        masses.append(mass_kg)
    await prompter.step(
        Instruction("标定完成，请移走砝码 / Done: remove the test weight from the scale.", "empty", 0)
    )
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return Calibration(
        calibration_id=created.strftime("CAL-%Y%m%d-%H%M%S"),
        created_utc=created.strftime(UTC_FORMAT),
        technician=technician.strip(),
        reference=reference.strip(),
        method=method,
        zero_counts=tuple(round(float(v), 3) for v in zero),
        kg_per_count=tuple(float(v) for v in kg_per_count),
        test_weights_kg=tuple(masses),
        checks=tuple(checks),
        valid_until_utc=(created + timedelta(days=valid_days)).strftime(UTC_FORMAT),
        notes=notes,
        nominal_kg_per_count=tuple(float(v) for v in nominal),
    )


class DigitiserCountSource:
    """Counts from the real digitiser driver on a pyserial URL, averaged on request.

    Use as ``async with DigitiserCountSource(...) as source``: entering opens the port and waits for the
    first samples, raising :class:`DigitiserUnavailable` with what to do when the port cannot be opened,
    stays silent, or sends another number of channels than the scale has.
    """

    def __init__(
        self,
        url: str,
        n_channels: int,
        *,
        baudrate: int = 921600,
        read_timeout_s: float = 1.0,
    ) -> None:
        self.url = url
        self._n_channels = n_channels
        link = LinkConfig(url=url, baudrate=baudrate, read_timeout_s=read_timeout_s)
        self.driver = WimDigitiser("wim", link, self._on_samples, n_channels)
        self.sample_rate_hz: int | None = None
        self._silent_after_s = max(2.0, 3.0 * read_timeout_s)
        self._blocks: list[npt.NDArray[np.int32]] = []
        self._collected = 0
        self._collecting = False
        self._arrived = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, config: Config) -> DigitiserCountSource:
        wim = config.devices.wim
        return cls(
            wim.port, config.scale.n_channels, baudrate=wim.baudrate, read_timeout_s=wim.read_timeout_s
        )

    @property
    def n_channels(self) -> int:
        return self._n_channels

    def _on_samples(self, block: LoadSamples) -> None:
        self.sample_rate_hz = block.sample_rate_hz
        if self._collecting:
            self._blocks.append(block.counts)
            self._collected += block.counts.shape[0]
        self._arrived.set()

    async def __aenter__(self) -> DigitiserCountSource:
        self._task = asyncio.create_task(self.driver.run(self._stop), name="calibration-digitiser")
        try:
            await self._wait(lambda: self.sample_rate_hz is not None, self._silent_after_s)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, 5)
            self._task = None

    def _raise_if_failed(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # re-raises the driver's failure
            raise DigitiserUnavailable(f"the digitiser driver on {self.url} stopped")
        link = self.driver.link
        if link.state == LinkState.DOWN and link.last_error.startswith("cannot open"):
            raise DigitiserUnavailable(
                f"{link.last_error}. Check devices.wim.port in the lane config and that the digitiser's"
                " cable (USB adapter) is plugged in; stop the lane service first, it holds the port; the"
                " user needs permission to open it (group dialout). / 无法打开称重仪表串口：请检查配置和接线，并先停止车道服务。"
            )
        if self.driver.wrong_shape_blocks and self.sample_rate_hz is None:
            raise DigitiserUnavailable(
                f"the digitiser on {self.url} sends another number of channels than the {self.n_channels}"
                " cells of the configured scale: check scale.platform_lengths_m (4 cells per platform)"
                " against the digitiser's channel setting"
            )

    async def _wait(self, done: Callable[[], bool], timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not done():
            self._raise_if_failed()
            if loop.time() > deadline:
                link = self.driver.link
                raise DigitiserUnavailable(
                    f"no load samples from the digitiser on {self.url} for {timeout_s:.1f} s (link"
                    f" {link.state}{': ' + link.last_error if link.last_error else ''}). Check that the"
                    " digitiser is powered, that devices.wim.port is its port and not another device's,"
                    " and the cable. / 称重仪表无数据：请检查电源、接线和端口配置。"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.05)

    async def read(self, period_s: float) -> CountReading:
        if self._task is None or self.sample_rate_hz is None:
            raise RuntimeError("DigitiserCountSource.read() outside `async with`")
        need = max(1, math.ceil(period_s * self.sample_rate_hz))
        self._blocks = []
        self._collected = 0
        self._collecting = True
        try:
            await self._wait(lambda: self._collected >= need, period_s + self._silent_after_s)
        finally:
            self._collecting = False
        counts = np.concatenate(self._blocks).astype(np.float64)
        self._blocks = []
        return CountReading(counts.mean(axis=0), counts.std(axis=0), int(counts.shape[0]))
