"""Raw captures: one crossing's sensor streams and weighing settings in a versioned ``.wlcap`` file.

A capture holds a :class:`~edge.lane.crossing.Crossing` losslessly, plus everything
:func:`edge.judge.judge` takes from the configuration (the scale's geometry and calibration, the rules)
and the exact text of the limit table the lane used.  ``edge wim replay`` rebuilds both and calls the
same ``judge``, so a capture replays to the result the lane produced live.  The format is written down
in docs/capture-format.md, complete enough for another tool to write captures without this code.

File layout: a ZIP archive (stored or deflated) with ``meta.json``, NumPy ``.npy`` arrays (NPY 1.0,
little-endian), optionally ``limits.toml`` and anything under ``extra/``.  Reading is strict: every
problem raises :class:`CaptureError` naming the file, the member and the key, because a capture settles
disputes and a silently defaulted or ignored value would change a verdict.

:class:`CaptureWriter` is the daemon's side: it writes in a worker thread, atomically, keeps the
capture directory within a disk budget by deleting the oldest captures, and never raises into the lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import threading
import time
import uuid
import zipfile
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge import __version__
from edge.config import OFFLINE_DEVICES, Array, Config, RulesConfig, ScaleConfig, SiteConfig, WimConfig
from edge.configerrors import format_errors
from edge.errors import EdgeError
from edge.lane.buffer import SampleWindow
from edge.lane.crossing import Crossing

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "Capture",
    "CaptureError",
    "CaptureMeta",
    "CaptureWriter",
    "read_capture",
    "write_capture",
]

log = logging.getLogger(__name__)

FORMAT_NAME = "weighlane-capture"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
SUFFIX = ".wlcap"

META = "meta.json"
COUNTS = "counts.npy"
TIMES = "times_s.npy"
ENTRY = "entry_t_s.npy"
EXIT = "exit_t_s.npy"
MID = "mid_t_s.npy"
FALLBACK_ZERO = "fallback_zero_counts.npy"
LIMITS = "limits.toml"
EXTRA_PREFIX = "extra/"
_KNOWN_MEMBERS = frozenset({META, COUNTS, TIMES, ENTRY, EXIT, MID, FALLBACK_ZERO, LIMITS})

# The packaged table's file, read as data (not imported): edge.wim sits below edge.rules in the data flow.
_PACKAGED_LIMITS = ("rules", "limits_gb2016.toml")
_MAX_META_BYTES = 1 << 20
_MAX_LIMITS_BYTES = 1 << 20
_DOC = "docs/capture-format.md"

F64 = npt.NDArray[np.float64]


class CaptureError(EdgeError, ValueError):
    """Raised when a capture cannot be read or written: not a ZIP, a missing or invalid member, a meta
    key that is missing or wrong, an unsupported version, an array of the wrong dtype or shape.  The
    message names the file, the member and the key, and what to fix."""


# -- meta.json ---------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaptureScale(ScaleConfig):
    """The lane's :class:`ScaleConfig`; geometry and calibration keys are required in a capture, since a
    default there would silently change every weight."""

    platform_lengths_m: Array[float] = Field(
        min_length=1,
        max_length=8,
        description="Length of each weighing platform in driving order (m); x = 0 is the scale entry.",
    )
    kg_per_count: float | Array[float] = Field(
        description="Span of each load cell (kg per ADC count): one value for all cells or one per channel.",
    )
    entry_strip_x_m: float = Field(description="Position of the axle recogniser's entry strip (m).")


class CaptureWim(_Strict):
    """The parts of the lane's ``[wim]`` table that judge() uses: correction factors, axle-load fit."""

    speed_band_edges_kmh: tuple[float, ...] = Field(
        WimConfig.model_fields["speed_band_edges_kmh"].default,
        min_length=2,
        description="Speed bands (km/h) of the dynamic correction factors.",
    )
    corrections: dict[str, tuple[float, ...]] = Field(
        default_factory=dict,
        description="Correction factors per speed band: key 'default' or a vehicle class code.",
    )
    site_sd_fraction: tuple[float, ...] = Field(
        (),
        description="The site's own standard error of a load per speed band, fraction (empty: none).",
    )
    site_axle_sd_fraction: tuple[float, ...] = Field(
        (),
        description="The site's scatter moved between the axles, per speed band, fraction (empty: none).",
    )
    dynamic_knot_m: float = Field(
        WimConfig.model_fields["dynamic_knot_m"].default,
        ge=0,
        le=5,
        description="Knot spacing of the body heave/pitch terms (m travelled); 0 = constant axle loads.",
    )
    body_min_frequency_hz: float = Field(
        WimConfig.model_fields["body_min_frequency_hz"].default,
        gt=0,
        le=20,
        description="Lowest natural frequency of the body modes in the body terms' prior (Hz).",
    )
    body_max_frequency_hz: float = Field(
        WimConfig.model_fields["body_max_frequency_hz"].default,
        gt=0,
        le=20,
        description="Highest natural frequency of the body modes in the body terms' prior (Hz).",
    )
    body_damping_ratio: float = Field(
        WimConfig.model_fields["body_damping_ratio"].default,
        gt=0,
        lt=1,
        description="Damping ratio of the body modes in the body terms' prior.",
    )
    misfit_correlation_s: float = Field(
        WimConfig.model_fields["misfit_correlation_s"].default,
        gt=0,
        le=1,
        description="Correlation time of the misfit (s): samples within it count as one observation.",
    )
    group_share_std: float = Field(
        WimConfig.model_fields["group_share_std"].default,
        ge=0,
        le=1,
        description="Prior spread of a group axle's load about the group's mean axle load; 0 = off.",
    )

    uncertainty_block_s: float = Field(
        WimConfig.model_fields["uncertainty_block_s"].default,
        gt=0,
        le=2,
        description="Block length (s) of the batch means of the load fit's residuals (expanded uncertainty).",
    )
    uncertainty_variance_factor: float = Field(
        WimConfig.model_fields["uncertainty_variance_factor"].default,
        gt=0,
        le=4,
        description="Factor on the batch-means variance of the expanded uncertainty (calibration).",
    )
    uncertainty_misfit_floor: bool = Field(
        WimConfig.model_fields["uncertainty_misfit_floor"].default,
        description="Floor the body fit's residual share at (misfit / allowance)² (the earlier estimator).",
    )
    pulse_uncertainty: bool = Field(
        WimConfig.model_fields["pulse_uncertainty"].default,
        description="Add the pitch transfer of the acceleration the speed profile does not follow to the"
        " expanded uncertainty (edge.wim.motion.pulse_transfer_kg); on one platform, where the profile's"
        " misfit is beyond 6 times the strips' noise, it is there either way, in the misfit term's place.",
    )
    speed_profile: Literal["ramp", "constant_acceleration", "per_axle_constant"] = Field(
        WimConfig.model_fields["speed_profile"].default,
        description="Axle motion of the axle-load fit (edge.wim.motion): one profile, a constant acceleration"
        " or two cruises joined by a ramp (ramp), the constant acceleration alone, or each axle at its own"
        " constant speed.",
    )
    load_edge_timing_sd_s: float = Field(
        WimConfig.model_fields["load_edge_timing_sd_s"].default,
        ge=0,
        le=0.1,
        description="Standard uncertainty (s) of the load edges' joint times in the speed profile's fit"
        " (a scale of 2 or more platforms); 0 = none read.",
    )
    load_edge_margin_m: float = Field(
        WimConfig.model_fields["load_edge_margin_m"].default,
        gt=0,
        le=1.0,
        description="A load edge is read from half the tyre footprint plus this (m) before a joint to as far"
        " after it.",
    )
    load_centre_sd_m: float = Field(
        WimConfig.model_fields["load_centre_sd_m"].default,
        ge=0,
        le=1.0,
        description="Standard uncertainty (m) of the centre-of-load positions in the speed profile's fit; 0 = off.",
    )
    load_centre_accel_tolerance_mps2: float = Field(
        WimConfig.model_fields["load_centre_accel_tolerance_mps2"].default,
        ge=0,
        le=10.0,
        description="An axle's acceleration alone on a platform may depart this far (m/s²) from the profile's"
        " before the measured ones replace it in the pitch load transfer.",
    )

    moment_split: bool = Field(
        WimConfig.model_fields["moment_split"].default,
        description="Combine each group's split with the one the platforms' exit cells show"
        " (edge.wim.moment); false: the footprint fit's split and uncertainty alone.",
    )

    @model_validator(mode="after")
    def _check(self) -> CaptureWim:
        try:
            WimConfig(
                speed_band_edges_kmh=self.speed_band_edges_kmh,
                corrections=self.corrections,
                site_sd_fraction=self.site_sd_fraction,
                site_axle_sd_fraction=self.site_axle_sd_fraction,
                body_min_frequency_hz=self.body_min_frequency_hz,
                body_max_frequency_hz=self.body_max_frequency_hz,
            )
        except ValidationError as exc:
            raise ValueError("; ".join(format_errors(exc, show_input=False))) from None
        return self


class LiveResult(BaseModel):
    """What the lane decided live for this crossing (replay compares against it); extra keys are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    verdict: str = Field(description="The live verdict: pass | overweight | oversize | reweigh.")
    gross_kg: float | None = Field(None, description="The live gross mass (kg), null when none was measured.")


class CaptureMeta(_Strict):
    """The validated ``meta.json`` of a capture (docs/capture-format.md describes every key)."""

    format: Literal["weighlane-capture"] = Field(description="Always 'weighlane-capture'.")
    version: int = Field(
        description="Format version; this reader supports the versions in SUPPORTED_VERSIONS."
    )
    created_utc: str | None = Field(None, description="When the capture was written, ISO 8601 UTC.")
    site_id: str = Field("", description="Station identifier of the lane that recorded the crossing.")
    lane: int | None = Field(None, description="Lane number at that station.")
    vehicle_number: int = Field(0, ge=0, description="The lane's running vehicle number.")
    sample_rate_hz: int = Field(gt=0, description="Nominal sample rate of counts.npy (Hz).")
    samples_lost: int = Field(
        0, ge=0, description="Samples the digitiser link dropped inside the recorded window."
    )
    tyres: tuple[Literal["single", "dual", "wide_single"], ...] = Field(
        (), description="Tyres of each axle, front to rear (edge.rules.Tyre values); empty when unknown."
    )
    problems: tuple[str, ...] = Field((), description="Reasons the lane found this crossing unjudgeable.")
    scale: CaptureScale = Field(description="Scale geometry and calibration (edge.config.ScaleConfig keys).")
    rules: RulesConfig = Field(
        default_factory=lambda: RulesConfig(), description="Verdict settings (edge.config.RulesConfig keys)."
    )
    wim: CaptureWim = Field(
        default_factory=lambda: CaptureWim(), description="Dynamic correction factors (none by default)."
    )
    software: dict[str, Any] = Field(default_factory=dict, description="Name and version of the writer.")
    live_result: LiveResult | None = Field(None, description="The lane's live result, when known.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Free for the writing tool's own data.")


@dataclass(frozen=True, eq=False)
class Capture:
    """A capture read back: the crossing, a configuration ``judge()`` accepts, and the metadata."""

    path: Path
    meta: CaptureMeta
    crossing: Crossing
    config: Config  # the capture's scale and rules; placeholder site, devices on loop://
    limits_toml: str | None  # the limit table the lane used, when the capture embeds it


# -- writing -----------------------------------------------------------------------------------------


def write_capture(
    path: str | Path,
    crossing: Crossing,
    config: Config,
    *,
    live_result: dict[str, Any] | None = None,
    created_utc: str | None = None,
) -> int:
    """Write ``crossing`` and the weighing settings of ``config`` to ``path``; return the file's size.

    The file appears under its final name only when complete (written beside it, fsynced, renamed).
    Raises :class:`CaptureError` when the crossing does not fit the format, ``OSError`` when the disk
    does.
    """
    path = Path(path)
    n_channels = config.scale.n_channels
    counts = _writable_counts(crossing.window.counts, n_channels, path)
    times = np.asarray(crossing.window.times_s, dtype="<f8")
    entry = np.asarray(crossing.entry_t_s, dtype="<f8")
    exit_ = np.asarray(crossing.exit_t_s, dtype="<f8")
    arrays: dict[str, np.ndarray[Any, Any]] = {COUNTS: counts, TIMES: times, ENTRY: entry, EXIT: exit_}
    if crossing.mid_t_s is not None:
        arrays[MID] = np.asarray(crossing.mid_t_s, dtype="<f8")
    if crossing.fallback_zero_counts is not None:
        arrays[FALLBACK_ZERO] = np.asarray(crossing.fallback_zero_counts, dtype="<f8")
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "created_utc": created_utc or _utc_now(),
        "site_id": config.site.id,
        "lane": config.site.lane,
        "vehicle_number": crossing.vehicle_number,
        "sample_rate_hz": crossing.sample_rate_hz,
        "samples_lost": crossing.window.samples_lost,
        "tyres": list(crossing.tyres),
        "problems": list(crossing.problems),
        "scale": config.scale.model_dump(mode="json"),
        "rules": config.rules.model_dump(mode="json"),
        "wim": config.wim.model_dump(mode="json", include=set(CaptureWim.model_fields)),
        "software": {"name": "weighlane-edge", "version": __version__},
    }
    if live_result is not None:
        meta["live_result"] = _json_safe(live_result)
    try:
        meta_bytes = json.dumps(meta, ensure_ascii=False, allow_nan=False, indent=1).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise CaptureError(f"{path}: {META}: cannot be written as JSON: {exc}") from None
    # What is written must read back: validate with the reader's own checks before touching the disk.
    _check_arrays(_parse_meta(meta_bytes, str(path)), arrays, str(path))
    limits_toml = _lane_limits_text(config)

    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        # Noisy counts deflate about 1.6:1 at any level (measured on simulator crossings); level 1 is
        # 5-8 times faster than level 9 and within 1 % of its size.
        with (
            open(temporary, "wb") as raw,
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        ):
            archive.writestr(META, meta_bytes)
            for name, array in arrays.items():
                with archive.open(name, "w", force_zip64=array.nbytes > 0x7FFF0000) as member:
                    np.lib.format.write_array(member, array, version=(1, 0), allow_pickle=False)
            if limits_toml is not None:
                archive.writestr(LIMITS, limits_toml.encode("utf-8"))
            archive.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink(missing_ok=True)
    return path.stat().st_size


def _writable_counts(counts: npt.NDArray[Any], n_channels: int, path: Path) -> npt.NDArray[np.int32]:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != n_channels:
        raise CaptureError(
            f"{path}: {COUNTS}: the crossing's counts have shape {counts.shape} but the scale has"
            f" {n_channels} channels; the crossing and the configuration do not belong together"
        )
    return _as_int32(counts, f"{path}: {COUNTS}")


def _lane_limits_text(config: Config) -> str | None:
    """The limit table the lane uses, as text (embedded so a capture replays on any machine)."""
    try:
        if config.rules.limits_table:
            return Path(config.rules.limits_table).read_text(encoding="utf-8")
        return resources.files("edge").joinpath(*_PACKAGED_LIMITS).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # The lane loaded the table at start; if it is gone now the capture is still useful without it.
        log.warning("limit table not embedded in the capture: %s", exc)
        return None


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by null (JSON has no such numbers)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int((now % 1) * 1000):03d}Z"


# -- reading -----------------------------------------------------------------------------------------


def read_capture(path: str | Path) -> Capture:
    """Read and strictly validate a capture; raise :class:`CaptureError` naming the file and the key."""
    path = Path(path)
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise CaptureError(f"{where}: no such file") from None
    except zipfile.BadZipFile as exc:
        raise CaptureError(f"{where}: not a capture: not a ZIP archive ({exc}); see {_DOC}") from None
    except OSError as exc:
        raise CaptureError(f"{where}: cannot be read: {exc.strerror or exc}; check the permissions") from exc
    try:
        with archive:
            names = set(archive.namelist())
            unknown = sorted(n for n in names - _KNOWN_MEMBERS if not n.startswith(EXTRA_PREFIX))
            if unknown:
                raise CaptureError(
                    f"{where}: unknown member(s) {', '.join(unknown)}; a capture holds only"
                    f" {', '.join(sorted(_KNOWN_MEMBERS))} and files under {EXTRA_PREFIX} (see {_DOC})"
                )
            meta = _parse_meta(_member_bytes(archive, META, where, _MAX_META_BYTES), where)
            arrays = {
                name: _read_npy(archive, name, where)
                for name in (COUNTS, TIMES, ENTRY, EXIT, MID, FALLBACK_ZERO)
                if name in names or name not in (FALLBACK_ZERO, MID)
            }
            limits_toml = None
            if LIMITS in names:
                raw = _member_bytes(archive, LIMITS, where, _MAX_LIMITS_BYTES)
                try:
                    limits_toml = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise CaptureError(f"{where}: {LIMITS}: not UTF-8 text") from None
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise CaptureError(
            f"{where}: damaged ZIP archive ({exc}); the file is truncated or corrupt"
        ) from None
    except (OSError, EOFError) as exc:
        raise CaptureError(
            f"{where}: damaged or unreadable ({exc}); the file is truncated or corrupt"
        ) from None
    checked = _check_arrays(meta, arrays, where)
    crossing = Crossing(
        vehicle_number=meta.vehicle_number,
        window=SampleWindow(checked[TIMES], checked[COUNTS], meta.samples_lost),
        sample_rate_hz=meta.sample_rate_hz,
        entry_t_s=checked[ENTRY],
        exit_t_s=checked[EXIT],
        tyres=meta.tyres,
        problems=meta.problems,
        fallback_zero_counts=checked.get(FALLBACK_ZERO),
        mid_t_s=checked.get(MID),
    )
    try:
        config = replay_config(meta)
    except ValidationError as exc:  # the sections valid alone, not together
        raise CaptureError(f"{where}: {META}: " + "; ".join(format_errors(exc, show_input=False))) from None
    return Capture(path, meta, crossing, config, limits_toml)


def replay_config(meta: CaptureMeta) -> Config:
    """A full :class:`Config` with the capture's scale, rules and dynamic corrections; site, devices and
    everything judge() does not use are placeholders (capture off, devices on loop://)."""
    try:
        site = SiteConfig(id=meta.site_id, lane=meta.lane if meta.lane is not None else 1)
    except ValidationError:
        site = SiteConfig(id="capture", lane=1)  # another tool's site naming; judge() never looks at it
    return Config.model_validate(
        {
            "site": site.model_dump(),
            "scale": meta.scale.model_dump(),
            "devices": OFFLINE_DEVICES,
            "rules": meta.rules.model_dump(),
            "wim": meta.wim.model_dump(),
        }
    )


def _member_bytes(archive: zipfile.ZipFile, name: str, where: str, limit: int) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CaptureError(f"{where}: {name}: missing from the archive (required; see {_DOC})") from None
    if info.file_size > limit:
        raise CaptureError(f"{where}: {name}: {info.file_size} bytes, more than the {limit} allowed")
    return archive.read(info)


def _parse_meta(raw: bytes, where: str) -> CaptureMeta:
    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON; write null for a missing number")

    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except UnicodeDecodeError:
        raise CaptureError(f"{where}: {META}: not UTF-8 text") from None
    except ValueError as exc:
        raise CaptureError(f"{where}: {META}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CaptureError(f"{where}: {META}: must hold one JSON object, found {type(data).__name__}")
    if data.get("format") != FORMAT_NAME:
        raise CaptureError(
            f"{where}: {META}: format: must be {FORMAT_NAME!r}, found {data.get('format')!r}; not a capture"
        )
    version = data.get("version")
    supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
    if isinstance(version, bool) or not isinstance(version, int):
        raise CaptureError(f"{where}: {META}: version: must be an integer (supported: {supported})")
    if version not in SUPPORTED_VERSIONS:
        raise CaptureError(
            f"{where}: {META}: version {version} is not supported; this reader (weighlane-edge"
            f" {__version__}) reads version(s) {supported}; a newer capture needs a newer weighlane-edge"
        )
    try:
        return CaptureMeta.model_validate(data)
    except ValidationError as exc:
        problems = format_errors(
            exc,
            source=f"{where}: {META}",
            fixes={
                "extra_forbidden": f"misspelt? {_DOC} lists the keys; put a tool's own data under 'extra'"
            },
        )
        raise CaptureError("invalid capture:\n  " + "\n  ".join(problems)) from None


def _read_npy(archive: zipfile.ZipFile, name: str, where: str) -> np.ndarray[Any, Any]:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CaptureError(f"{where}: {name}: missing from the archive (required; see {_DOC})") from None
    try:
        with archive.open(info) as member:
            return _load_npy(member)
    except ValueError as exc:  # bad magic, header, object dtype (pickles are refused), short data
        raise CaptureError(f"{where}: {name}: not a valid NPY array: {exc}") from None


def _load_npy(member: IO[bytes]) -> np.ndarray[Any, Any]:
    array: np.ndarray[Any, Any] = np.lib.format.read_array(member, allow_pickle=False)
    return array


def _check_arrays(
    meta: CaptureMeta, arrays: dict[str, np.ndarray[Any, Any]], where: str
) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays as the crossing holds them (int32 counts, float64 times), or CaptureError."""
    n_channels = meta.scale.n_channels
    counts = arrays[COUNTS]
    if counts.ndim != 2 or counts.shape[1] != n_channels:
        raise CaptureError(
            f"{where}: {COUNTS}: shape {counts.shape}, expected (n_samples, {n_channels}):"
            f" scale.platform_lengths_m has {len(meta.scale.platform_lengths_m)} platforms x 4 cells"
        )
    checked: dict[str, np.ndarray[Any, Any]] = {COUNTS: _as_int32(counts, f"{where}: {COUNTS}")}
    times = _as_float64(arrays[TIMES], f"{where}: {TIMES}")
    if times.shape != (counts.shape[0],):
        raise CaptureError(
            f"{where}: {TIMES}: shape {times.shape}, expected ({counts.shape[0]},): one time per row of {COUNTS}"
        )
    if not np.all(np.isfinite(times)):
        raise CaptureError(f"{where}: {TIMES}: holds NaN or infinite times")
    if times.size > 1 and np.any(np.diff(times) < 0):
        raise CaptureError(f"{where}: {TIMES}: times go backwards; samples must be in time order")
    checked[TIMES] = times
    entry = _as_float64(arrays[ENTRY], f"{where}: {ENTRY}")
    exit_ = _as_float64(arrays[EXIT], f"{where}: {EXIT}")
    if entry.ndim != 1:
        raise CaptureError(f"{where}: {ENTRY}: shape {entry.shape}, expected (n_axles,)")
    if exit_.shape != entry.shape:
        raise CaptureError(
            f"{where}: {EXIT}: shape {exit_.shape}, expected {entry.shape}: one exit time per entry time"
        )
    if not np.all(np.isfinite(entry)):
        raise CaptureError(
            f"{where}: {ENTRY}: holds NaN or infinite times; every axle seen has an entry time"
        )
    if np.any(np.isinf(exit_)):
        raise CaptureError(f"{where}: {EXIT}: holds infinite times; write NaN for an axle that never exited")
    if meta.tyres and len(meta.tyres) != entry.size:
        raise CaptureError(
            f"{where}: {META}: tyres: {len(meta.tyres)} values for {entry.size} axles;"
            " give one per axle or an empty list"
        )
    checked[ENTRY], checked[EXIT] = entry, exit_
    n_mid = len(meta.scale.mid_strips_x_m)
    if n_mid and MID not in arrays:
        raise CaptureError(
            f"{where}: {MID}: missing; scale.mid_strips_x_m lists {n_mid} intermediate strips, so the capture"
            " holds their times (NaN where a strip missed an axle)"
        )
    if MID in arrays:
        mid = _as_float64(arrays[MID], f"{where}: {MID}")
        if not n_mid:
            raise CaptureError(
                f"{where}: {MID}: present but scale.mid_strips_x_m is empty; give the strips' positions"
                " or leave the member out"
            )
        if mid.shape != (entry.size, n_mid):
            raise CaptureError(
                f"{where}: {MID}: shape {mid.shape}, expected ({entry.size}, {n_mid}): per axle, one time per"
                " strip of scale.mid_strips_x_m"
            )
        if np.any(np.isinf(mid)):
            raise CaptureError(
                f"{where}: {MID}: holds infinite times; write NaN where a strip missed an axle"
            )
        checked[MID] = mid
    if FALLBACK_ZERO in arrays:
        zero = _as_float64(arrays[FALLBACK_ZERO], f"{where}: {FALLBACK_ZERO}", integers_ok=True)
        if zero.shape != (n_channels,):
            raise CaptureError(f"{where}: {FALLBACK_ZERO}: shape {zero.shape}, expected ({n_channels},)")
        if not np.all(np.isfinite(zero)):
            raise CaptureError(f"{where}: {FALLBACK_ZERO}: holds NaN or infinite values")
        checked[FALLBACK_ZERO] = zero
    return checked


def _as_int32(array: np.ndarray[Any, Any], what: str) -> npt.NDArray[np.int32]:
    if array.dtype.kind not in "iu":
        raise CaptureError(
            f"{what}: dtype {array.dtype} is not an integer type; write raw ADC counts as int32"
        )
    if array.dtype != np.int32 and array.size:
        info = np.iinfo(np.int32)
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            raise CaptureError(f"{what}: values {low}..{high} do not fit int32 ADC counts")
    return np.ascontiguousarray(array, dtype=np.int32)


def _as_float64(array: np.ndarray[Any, Any], what: str, *, integers_ok: bool = False) -> F64:
    kinds = "fiu" if integers_ok else "f"
    if array.dtype.kind not in kinds or (array.dtype.kind == "f" and array.dtype.itemsize not in (4, 8)):
        raise CaptureError(f"{what}: dtype {array.dtype}, expected float64 (float32 is accepted)")
    return np.ascontiguousarray(array, dtype=np.float64)


# -- the daemon's writer -----------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


class CaptureWriter:
    """Saves each crossing under ``directory/YYYYMMDD/HHMMSS-<vehicle>-<id>.wlcap`` (UTC) within a budget.

    After each capture it deletes the oldest captures (by name, which is by time, then in write order)
    until the directory holds at most ``budget_bytes``; the capture just written is never deleted.
    Only files in that layout are counted or deleted.  Errors are counted, logged and shown in
    :meth:`health`; they never reach the lane.

    Writes run one at a time in the writer's own thread, so a slow or hung disk never occupies the
    event loop's default executor; when ``max_pending`` writes are already waiting, further captures
    are dropped (and counted) rather than queued without bound.
    """

    def __init__(
        self, directory: str | Path, budget_bytes: int, *, enabled: bool = True, max_pending: int = 8
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError("budget_bytes must be > 0")
        self.directory = Path(directory)
        self.budget_bytes = budget_bytes
        self.enabled = enabled
        self.max_pending = max_pending
        self.written = 0
        self.deleted = 0
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture-writer")
        self._pending = 0  # saves submitted and not finished; touched on the event loop only
        self._lock = threading.Lock()  # the index and the directory belong to one write at a time
        self._index: deque[tuple[Path, int]] | None = None  # oldest first; None until scanned
        self._bytes = 0
        if enabled:
            self._try_scan()  # once, at start: a directory listing

    @classmethod
    def from_config(cls, config: Config) -> CaptureWriter:
        """The writer the lane's ``[wim]`` table asks for: capture_dir ("" disables), capture_budget_mb."""
        directory = config.wim.capture_dir
        budget_bytes = max(1, int(config.wim.capture_budget_mb * 1_000_000))
        return cls(directory or ".", budget_bytes, enabled=bool(directory))

    async def save(
        self, crossing: Crossing, config: Config, live_result: dict[str, Any] | None = None
    ) -> Path | None:
        """Write one capture in the writer's thread; the path written, or None (disabled, dropped, failed).

        ``config`` must be the configuration the crossing was judged with; ``live_result`` the lane's
        result (``EvidenceRecord.live_result()``).  Never raises (except cancellation).
        """
        if not self.enabled:
            return None
        if self._pending >= self.max_pending:
            self.dropped += 1
            self._failed(
                f"raw capture of vehicle {crossing.vehicle_number} dropped: {self._pending} captures are"
                f" still waiting to be written to {self.directory}; the disk is too slow or hung"
            )
            return None
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._save, crossing, config, live_result)
        except Exception as exc:  # a capture is a diagnostic aid: it must never stop the lane
            self._failed(f"capture writer failed: {exc!r}")
            return None
        finally:
            self._pending -= 1

    def close(self) -> None:
        """Stop taking captures; a write in progress finishes, waiting ones are abandoned."""
        self.enabled = False
        self._executor.shutdown(wait=False, cancel_futures=True)

    def health(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "directory": str(self.directory),
            "count": len(self._index) if self._index is not None else None,
            "bytes": self._bytes if self._index is not None else None,
            "budget_bytes": self.budget_bytes,
            "written": self.written,
            "deleted": self.deleted,
            "dropped": self.dropped,
            "pending": self._pending,
            "errors": self.errors,
            "last_error": self.last_error,
        }

    # -- worker thread -----------------------------------------------------------------------------

    def _save(self, crossing: Crossing, config: Config, live_result: dict[str, Any] | None) -> Path | None:
        with self._lock:
            if self._index is None and not self._try_scan():
                return None
            now = time.time()
            record_id = (live_result or {}).get("record_id") or uuid.uuid4().hex[:12]
            day = time.strftime("%Y%m%d", time.gmtime(now))
            name = f"{time.strftime('%H%M%S', time.gmtime(now))}-{crossing.vehicle_number}-"
            name += _UNSAFE.sub("_", str(record_id))[:64] + SUFFIX
            path = self.directory / day / name
            if path.exists():  # same second, vehicle and id: never replace (or later delete) it
                path = path.with_name(f"{path.stem}-{uuid.uuid4().hex[:6]}{SUFFIX}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                size = write_capture(path, crossing, config, live_result=live_result)
            except (OSError, CaptureError) as exc:
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self._failed(
                    f"raw capture of vehicle {crossing.vehicle_number} not written to {path}: {detail};"
                    f" check that {self.directory} is writable by the daemon's user and the disk has"
                    " space (the lane keeps weighing without captures)"
                )
                return None
            assert self._index is not None
            self._index.append((path, size))
            self._bytes += size
            self.written += 1
            self._enforce_budget(keep=path)
            return path

    def _try_scan(self) -> bool:
        try:
            self._scan()
        except OSError as exc:
            self._failed(
                f"capture directory {self.directory} cannot be listed ({exc.strerror or exc}); check that"
                " it is a directory readable and writable by the daemon's user (the lane keeps weighing)"
            )
            return False
        return True

    def _scan(self) -> None:
        """Index existing captures oldest first; remove temporary files a killed daemon left."""
        index: list[tuple[Path, int]] = []
        if self.directory.is_dir():
            for leftover in self.directory.glob(f"*/.*{SUFFIX}.*.tmp"):
                leftover.unlink(missing_ok=True)
            for path in sorted(self.directory.glob(f"*/*{SUFFIX}")):
                try:
                    index.append((path, path.stat().st_size))
                except FileNotFoundError:
                    continue
        self._index = deque(index)
        self._bytes = sum(size for _, size in index)

    def _enforce_budget(self, keep: Path) -> None:
        assert self._index is not None
        undeletable: list[tuple[Path, int]] = []
        while self._bytes > self.budget_bytes and self._index and self._index[0][0] != keep:
            path, size = self._index.popleft()
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # removed by hand: it no longer counts
            except OSError as exc:
                self._failed(
                    f"old capture {path} cannot be deleted ({exc.strerror or exc}); the capture directory"
                    f" may exceed its budget of {self.budget_bytes} bytes: fix the permissions"
                )
                undeletable.append((path, size))
                continue
            else:
                self.deleted += 1
            self._bytes -= size
            _remove_if_empty(path.parent)
        self._index.extendleft(reversed(undeletable))

    def _failed(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        log.error("%s", message)


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (the usual case) or already gone
        directory.rmdir()
