"""The daemon's configuration: one TOML file, validated by strict pydantic models.

Every field has a description; ``edge config check FILE`` validates a file and ``edge config schema``
prints them all.  Errors name the file, the line and the key, and say what to do.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import tomllib
from pathlib import Path
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from drivers.registry import types_for
from edge.configerrors import format_errors
from edge.errors import EdgeError

__all__ = [
    "OFFLINE_DEVICES",
    "Array",
    "CardReaderConfig",
    "Config",
    "ConfigError",
    "ConsoleConfig",
    "DeviceConfig",
    "DownlinkConfig",
    "IndicatorDeviceConfig",
    "LidarScannerConfig",
    "OutlineConfig",
    "TrustedKey",
    "VoiceConfig",
    "load_config",
    "parse_config",
]


class ConfigError(EdgeError, ValueError):
    """Raised when a configuration file cannot be read or does not validate."""


class _Strict(BaseModel):
    """Strict: a value of the wrong type is refused (``lane = "3"``, ``enabled = "yes"``), never
    converted; an int is still a valid float.  Unknown keys are refused.  Models hold data only: what is
    done with it lives in the module that uses it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


T = TypeVar("T")


def _list_to_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


#: A TOML array read into a tuple (strict mode takes only tuples for tuple fields); items stay strict.
Array = Annotated[tuple[T, ...], BeforeValidator(_list_to_tuple)]


class SiteConfig(_Strict):
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="Station identifier issued by the central office; MQTT topics start with site/<id>/.",
    )
    lane: int = Field(ge=1, le=99, description="Lane number at this station.")
    name: str = Field("", description="Human-readable station name, shown in the console and heartbeats.")
    kind: Literal["toll_entrance", "static_weighbridge"] = Field(
        "toll_entrance",
        description="What the site is, which chooses its stages: toll_entrance (weigh-in-motion lane that"
        " refuses overloaded trucks entry); static_weighbridge (a source enterprise's unattended"
        " weighbridge that keeps overloaded trucks in; see [weighbridge]).",
    )


#: Intermediate axle strips a scale may have: one in each gap between 8 platforms (the axle sensor's strips
#: 2-8, drivers.axle_sensor.codec.MAX_MID_STRIPS; not imported: the configuration sits below the drivers).
MAX_MID_STRIPS = 7


class ScaleConfig(_Strict):
    platform_lengths_m: Array[float] = Field(
        (6.0, 6.0, 6.0),
        min_length=1,
        max_length=8,
        description="Length of each weighing platform in driving order (m); x = 0 is the scale entry.",
    )
    platform_width_m: float = Field(3.0, gt=0, description="Platform width across the lane (m).")
    cells_per_platform: Literal[4] = Field(
        4,
        description="Load cells per platform, one at each corner (entry-left, entry-right, exit-left, exit-right).",
    )
    sample_rate_hz: int = Field(
        1000, ge=500, le=10000, description="Digitiser sample rate the lane expects (Hz)."
    )
    kg_per_count: float | Array[float] = Field(
        0.02,
        description="Span of each load cell (kg per ADC count): one value for all cells or one per channel.",
    )
    entry_strip_x_m: float = Field(-0.5, description="Position of the axle recogniser's entry strip (m).")
    exit_strip_x_m: float | None = Field(
        None, description="Position of the exit strip (m); default the scale end."
    )
    mid_strips_x_m: Array[float] = Field(
        (),
        max_length=MAX_MID_STRIPS,
        description="Positions of the axle recogniser's intermediate strips (m), in driving order, strictly"
        " between the entry and exit strips: the strips a site has in the gaps between its platforms"
        " (AxleEvent strip 2, 3, ... in this order). Empty: entry and exit strips only.",
    )
    separator_x_m: float = Field(0.0, description="Position of the light-curtain separator (m).")
    edge_margin_m: float = Field(
        0.1,
        ge=0,
        le=1.5,
        description="A platform's samples taken while any axle is within this distance of one of its edges"
        " are not used (the strips' timing uncertainty makes the footprint's position uncertain there).",
    )
    tyre_footprint_m: float = Field(
        0.25,
        gt=0,
        le=0.6,
        description="Length of a tyre's contact patch (m): an axle crossing a platform edge shares its load"
        " between the two platforms over this length.",
    )
    preroll_s: float = Field(
        0.5, gt=0, le=5, description="Empty-scale samples before the first axle used to zero each cell (s)."
    )
    strip_timing_sd_s: float = Field(
        0.0023,
        gt=0,
        le=0.1,
        description="Standard uncertainty of the axle strips' time stamps (s): 0.0023 is +/-4 ms, uniform (an"
        " axle sensor whose events reach the host over a serial link); a sensor that time-stamps its events"
        " itself is far better. It says how well the strip times show that a hard acceleration was steady"
        " (rules.max_accel_mps2), and whether they show a step of speed (wim.speed_profile = ramp).",
    )

    @property
    def n_channels(self) -> int:
        return len(self.platform_lengths_m) * self.cells_per_platform

    @property
    def exit_x_m(self) -> float:
        return self.exit_strip_x_m if self.exit_strip_x_m is not None else sum(self.platform_lengths_m)

    @model_validator(mode="after")
    def _check(self) -> ScaleConfig:
        if any(length <= 0 for length in self.platform_lengths_m):
            raise ValueError("platform_lengths_m: every platform length must be > 0")
        if isinstance(self.kg_per_count, tuple):
            if len(self.kg_per_count) != self.n_channels:
                raise ValueError(
                    f"kg_per_count has {len(self.kg_per_count)} values but the scale has {self.n_channels} cells;"
                    " give one value or one per cell"
                )
            if any(v <= 0 for v in self.kg_per_count):
                raise ValueError("kg_per_count values must be > 0")
        elif self.kg_per_count <= 0:
            raise ValueError("kg_per_count must be > 0")
        if self.entry_strip_x_m > 0:
            raise ValueError("entry_strip_x_m must be at or before the scale entry (<= 0)")
        if self.exit_x_m <= self.entry_strip_x_m:
            raise ValueError("exit_strip_x_m must be after entry_strip_x_m")
        mids = self.mid_strips_x_m
        if any(later <= earlier for earlier, later in itertools.pairwise(mids)):
            raise ValueError(
                f"mid_strips_x_m {list(mids)} must be strictly increasing: list the intermediate strips in"
                " driving order, each once (they are the axle sensor's strips 2, 3, ... in this order)"
            )
        outside = [x for x in mids if not self.entry_strip_x_m < x < self.exit_x_m]
        if outside:
            raise ValueError(
                f"mid_strips_x_m {outside} not strictly between the entry strip ({self.entry_strip_x_m:g} m)"
                f" and the exit strip ({self.exit_x_m:g} m): an intermediate strip lies between them (in the"
                " gaps between the platforms); the entry and exit strips are set by entry_strip_x_m and"
                " exit_strip_x_m"
            )
        return self


class _Device(_Strict):
    """A device on a serial link; ``type`` names the driver class (drivers/registry.py) that runs it.
    Keys besides the link's (port, baudrate, read_timeout_s) are passed to the driver's constructor."""

    role: ClassVar[str]

    type: str = Field(
        description="Driver type: one registered for this role in drivers/registry.py (`edge config schema` lists them)."
    )
    port: str = Field(
        description="pyserial URL: /dev/ttyUSB0, /dev/weigh/scale0, socket://host:port, loop://"
    )
    baudrate: int = Field(115200, ge=1200, le=4_000_000, description="Serial speed (bit/s); ignored on ptys.")
    read_timeout_s: float = Field(
        1.0, gt=0, le=60, description="A link that delivers nothing for this long is shown as silent."
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["properties"]["type"]["enum"] = types_for(cls.role)  # `edge config schema` lists them
        return schema

    @field_validator("type")
    @classmethod
    def _registered(cls, value: str) -> str:
        known = types_for(cls.role)
        if value not in known:
            raise ValueError(
                f"no {cls.role} driver of type {value!r}; known types for {cls.role}: {', '.join(known)}"
            )
        return value


class WimDigitiserConfig(_Device):
    role = "wim"
    baudrate: int = Field(921600, ge=1200, le=4_000_000, description="Serial speed (bit/s); ignored on ptys.")


class SeparatorConfig(_Device):
    role = "separator"


class AxleSensorConfig(_Device):
    role = "axle_sensor"


class DisplayConfig(_Device):
    role = "display"
    ack_timeout_s: float = Field(
        0.5, gt=0, le=10, description="How long to wait for the board's acknowledgement."
    )


class BarrierConfig(_Device):
    role = "barrier"
    ack_timeout_s: float = Field(
        0.5, gt=0, le=10, description="How long to wait for the controller's state reply."
    )


class _Indicator(_Device):
    """A static weighbridge's weighing indicator: one model per driver ``type``, each with exactly its
    driver's constructor keys (docs/protocols/indicators.md), so a key that does not apply to the
    indicator in hand is refused here, with its line, not when the daemon starts."""

    role = "indicator"
    baudrate: int = Field(9600, ge=1200, le=4_000_000, description="Serial speed (bit/s); ignored on ptys.")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler.resolve_ref_schema(handler(core_schema))  # `type` is this model's one constant


_POLL_S = Field(0.1, gt=0, le=10, description="How often the weight is asked for (s).")
_REPLY_S = Field(0.5, gt=0, le=10, description="How long to wait for the indicator's reply (s).")
_UNIT_KG = Field(
    1.0, gt=0, le=1000, description="The indicator's unit in kg: 1 when it shows kg, 1000 when it shows t."
)


class Xk3190IndicatorConfig(_Indicator):
    """Yaohua XK3190-A9 (and compatibles): continuous output (tF=0) or command mode (tF=1)."""

    type: Literal["xk3190_a9"] = Field(description="Yaohua XK3190-A9 continuous or command output.")
    mode: Literal["continuous", "command"] = Field(
        "continuous", description="continuous: the indicator's tF=0 stream; command: tF=1, the host polls."
    )
    address: str = Field(
        "A", pattern=r"^[A-Z]$", description="Command mode: the indicator's address, one letter A-Z."
    )
    poll_interval_s: float = _POLL_S
    reply_timeout_s: float = _REPLY_S
    unit_kg: float = _UNIT_KG


class ToledoIndicatorConfig(_Indicator):
    """Mettler Toledo continuous output (and the many indicators that copy it); it takes no other keys."""

    type: Literal["toledo_continuous"] = Field(description="Toledo continuous output, 18-byte frames.")


class MtSicsIndicatorConfig(_Indicator):
    """Mettler-Toledo MT-SICS terminals and transmitters."""

    type: Literal["mt_sics"] = Field(description="MT-SICS level 0 (S, SI, SIR, Z, T).")
    mode: Literal["poll", "stream"] = Field(
        "poll", description="poll: ask SI every poll_interval_s; stream: send SIR and listen."
    )
    poll_interval_s: float = _POLL_S
    reply_timeout_s: float = _REPLY_S


class ModbusIndicatorConfig(_Indicator):
    """A Modbus RTU weighing transmitter (needs pymodbus: pip install -e ".[modbus]"), default register map."""

    type: Literal["modbus_rtu"] = Field(description="Modbus RTU weighing transmitter, through pymodbus.")
    device_id: int = Field(1, ge=1, le=247, description="The transmitter's Modbus address.")
    poll_interval_s: float = _POLL_S
    reply_timeout_s: float = _REPLY_S
    unit_kg: float = _UNIT_KG


#: A weighing indicator's configuration, chosen by its ``type``.
IndicatorDeviceConfig = Annotated[
    Xk3190IndicatorConfig | ToledoIndicatorConfig | MtSicsIndicatorConfig | ModbusIndicatorConfig,
    Field(discriminator="type"),
]


class CardReaderConfig(_Device):
    """A static weighbridge's RFID/IC card reader (docs/protocols/card_reader.md)."""

    role = "card_reader"
    baudrate: int = Field(9600, ge=1200, le=4_000_000, description="Serial speed (bit/s); ignored on ptys.")
    hold_off_s: float = Field(
        1.5,
        ge=0,
        le=60,
        description="A frame of the same card within this long of its previous one is the reader repeating"
        " it, not a new presentation (s).",
    )


class PositionConfig(_Device):
    """A static weighbridge's infrared position beams at both deck ends (type position_beams)."""

    role = "position"
    baudrate: int = Field(9600, ge=1200, le=4_000_000, description="Serial speed (bit/s); ignored on ptys.")


class VoiceConfig(_Device):
    """A static weighbridge's serial text-to-speech module (docs/protocols/voice.md)."""

    role = "voice"
    baudrate: int = Field(9600, ge=1200, le=4_000_000, description="Serial speed (bit/s); ignored on ptys.")
    ack_timeout_s: float = Field(
        0.5, gt=0, le=10, description="How long to wait for the module's 41h after each text (s)."
    )


#: Any device's configuration.
DeviceConfig = WimDigitiserConfig | SeparatorConfig | AxleSensorConfig | DisplayConfig | BarrierConfig
#: Devices of a static weighbridge (issue 18), beside the lane's.
StaticDeviceConfig = (
    Xk3190IndicatorConfig
    | ToledoIndicatorConfig
    | MtSicsIndicatorConfig
    | ModbusIndicatorConfig
    | CardReaderConfig
    | PositionConfig
    | VoiceConfig
)


class DevicesConfig(_Strict):
    """One table per device role; each names its driver ``type``."""

    wim: WimDigitiserConfig = Field(description="Load-cell digitiser (type wim_digitiser).")
    separator: SeparatorConfig = Field(description="Vehicle separator (type light_curtain).")
    axle_sensor: AxleSensorConfig = Field(description="Tyre/axle recogniser (type tyre_recogniser).")
    display: DisplayConfig = Field(description="Lane LED display (type led_display).")
    barrier: BarrierConfig = Field(description="Barrier controller (type barrier).")
    indicator: IndicatorDeviceConfig | None = Field(
        None,
        description="Static weighbridge: the weighing indicator; its keys depend on its type (xk3190_a9,"
        " toledo_continuous, mt_sics, modbus_rtu).",
    )
    card_reader: CardReaderConfig | None = Field(
        None, description="Static weighbridge: the RFID/IC card reader at the entry (type em4100_ascii)."
    )
    position: PositionConfig | None = Field(
        None, description="Static weighbridge: the position beams at the deck ends (type position_beams)."
    )
    voice: VoiceConfig | None = Field(
        None, description="Static weighbridge: a text-to-speech module saying the verdict (type syn6288)."
    )
    entry_barrier: BarrierConfig | None = Field(
        None,
        description="Static weighbridge: a barrier before the deck's entry end (type barrier). It lets one"
        " truck on at a time: open while the deck is empty, closed once a truck stands fully on the deck,"
        " open again when a refused truck must back off to unload.",
    )


class RulesConfig(_Strict):
    tolerance_factor: float = Field(
        1.05,
        ge=1.0,
        le=1.5,
        description="Refuse when measured gross > limit x this factor (ministry answer, 2021: 105 %, temporary).",
    )
    limits_table: str = Field(
        "",
        description="Path of a limits table TOML; empty means the packaged GB table (edge/rules/limits_gb2016.toml).",
    )
    group_max_spacing_m: float = Field(
        2.0, gt=0.5, le=3.0, description="Axles closer than this (m) form one axle group (tandem, tridem)."
    )
    steer_group_max_spacing_m: float = Field(
        2.4,
        gt=0.5,
        le=3.0,
        description="On 3 or 4 axles (the rigid rows' counts) the first two share the steer group (a twin"
        " steer, 1.8-2.1 m on 8x4 trucks) up to this spacing (m), or group_max_spacing_m where that is larger:"
        " measured in motion a few cm over 2.0 m, a twin steer would otherwise make a 4-axle rigid truck"
        " (31,000 kg) a combination (36,000 kg); no heavy vehicle's wheelbase is this short.",
    )
    max_residual_fraction: float = Field(
        0.055,
        gt=0,
        le=1,
        description="Re-weigh when the RMS misfit of the axle-load model exceeds this fraction of the load the"
        " scale carried over the same samples (rocking, stop-and-go, jumping), at residual_reference_speed_kmh"
        " and below: a dynamic load is a share of the static load on the platform, half body bounce (a unit's"
        " axles together: the modelled signal's RMS) and half axle hop (each axle alone: the axles in"
        " quadrature), whether one axle or a tridem stands on it.  Above it the allowance grows with"
        " sqrt(speed / reference speed), as truck dynamic load coefficients do.  0.055 (0.048 before): steady"
        " trucks bouncing on a class-B road's profile misfit up to about 15 % near 40 km/h with their gross within"
        " the class (docs/benchmarks.md, the independent model); stop-and-go still misfits far more.",
    )
    residual_reference_speed_kmh: float = Field(
        5.0, gt=0, le=40, description="Speed at which max_residual_fraction applies unscaled (km/h)."
    )
    min_speed_kmh: float = Field(1.0, ge=0, description="Re-weigh when any axle crossed slower than this.")
    max_speed_kmh: float = Field(40.0, gt=0, description="Re-weigh when any axle crossed faster than this.")
    max_speed_change_fraction: float = Field(
        0.13,
        gt=0,
        le=5,
        description="Re-weigh when axle speeds differ from their median by more than this fraction, or when the"
        " speed profile changes by more (speed changed on the scale: braking, stop-and-go), between its first"
        " and last strip time; with wim.speed_profile = ramp and events too few to test a ramp (2-4 axles"
        " without intermediate strips or load edges), which cannot tell a steady change from a step, or a"
        " constant acceleration that speeds up and fits the events within the strips' noise (the noise can"
        " hide a step, which the span reads up to 1.9 times over), between the axles' mean entry and exit"
        " time; a constant acceleration that speeds up where a ramp not taken shows a step of rising speed,"
        " the ramp's change.  Normal"
        " driving changes speed by up to about 10 % over a scale (fitted: at most 11 % on the bench); jumps at"
        " 30-40 km/h that a long scale would otherwise pass show 14-15 %.",
    )
    max_profile_misfit_s: float = Field(
        0.012,
        gt=0,
        le=1,
        description="Re-weigh when the axles' strip times misfit the fitted speed profile (wim.speed_profile)"
        " by more than this, RMS, in seconds of travel at the mean speed (jerky driving, stop-and-go; the"
        " strips' own timing jitter is a few ms), and by more than half a tyre footprint"
        " (scale.tyre_footprint_m / 2) in metres: a slow truck's small change of speed misfits by many ms but"
        " a few cm, which moves no axle's load further than its footprint blurs it. Needs 3 or more axles,"
        " or intermediate strips (scale.mid_strips_x_m) or load edges (wim.load_edge_timing_sd_s), whose"
        " misfits count weighted.",
    )
    max_accel_mps2: float = Field(
        0.9,
        gt=0,
        le=5,
        description="Re-weigh when the fitted speed profile's acceleration exceeds this (m/s², braking or"
        " accelerating), unless the events show it was steady: a brake pulse (a jump) changes the"
        " load transfer between axles weighed at different moments, a steady acceleration does not. Shown"
        " steady: 3 or more axles (or intermediate strips, or the centre of load's places of axles standing"
        " alone: wim.load_centre_sd_m), and the gross error the change of acceleration"
        " they leave possible (k = 2, scale.strip_timing_sd_s, a 2.2 m centre of gravity) is within"
        " max_gross_uncertainty_fraction. A ramp (wim.speed_profile) is a change of acceleration, never"
        " shown steady: one that brakes harder is re-weighed (a jump starts with a brake pulse); one that"
        " speeds up (a throttle blip) is judged on its gross uncertainty, which carries all that its pitch"
        " transfer moves the gross by (max_gross_uncertainty_fraction).",
    )
    max_gross_uncertainty_fraction: float = Field(
        0.02,
        gt=0,
        le=1,
        description="Re-weigh when the gross's expanded uncertainty (k = 2, from the crossing's own evidence:"
        " load misfit, residence time, platforms, speed-profile misfit) exceeds this fraction of the gross;"
        " set it to what the scale's accuracy class allows (e.g. 0.01 for class 1, 0.025 for class 5).",
    )
    assume_air_suspension: bool = Field(
        False,
        description="What the rules assume, when no registry or permit says, about a truck's drive-axle"
        " suspension (WIM cannot see it). false (default): no air-suspension variant (交公路发〔2016〕124号"
        " +1,000 kg, 37 t, 19 t drive tandem) is granted on a guess, which does not favour the driver;"
        " true grants them to every dual-tyre drive axle, which does.",
    )
    assume_articulated: bool = Field(
        False,
        description="Likewise for tractor + semi-trailer (铰接列车) vs truck + drawbar trailer; needed by the"
        " 37 t four-axle row. false (default) does not favour the driver.",
    )
    near_threshold: Literal["measured", "refuse", "pass", "reweigh"] = Field(
        "measured",
        description="Verdict for a truck whose gross is within its expanded uncertainty of the refusal"
        " threshold: 'measured' (the measured gross decides, as without uncertainty), 'refuse', 'pass' or"
        " 'reweigh'; the site chooses. An axle group within its uncertainty of its limit x tolerance follows"
        ' the same rule (it changes the verdict only where the limits table says findings = "refuse").',
    )


#: Largest wim.site_sd_fraction accepted (standard, per band): a scale whose own scatter is 5 % of the load
#: cannot meet even class 10 (+/-5 % at initial verification) and needs mending, not an uncertainty.
SITE_SD_FRACTION_MAX = 0.05


class WimConfig(_Strict):
    speed_band_edges_kmh: Array[float] = Field(
        (0.0, 10.0, 20.0, 40.0, 100.0),
        min_length=2,
        description="Speed bands (km/h) of the dynamic correction factors; GB/T 21296 splits at 10 and 40.",
    )
    corrections: dict[str, Array[float]] = Field(
        default_factory=dict,
        description="Dynamic correction factors per speed band: key 'default' or a vehicle class code"
        " (e.g. '6-combination'), one factor per band; measured loads are multiplied by it."
        " `edge calibrate dynamic` computes them from reference-vehicle captures.",
    )
    site_sd_fraction: Array[float] = Field(
        (),
        description="The site's own standard error of a weighed load in each speed band, as a fraction of it"
        " (one per band of speed_band_edges_kmh; empty: none): the scatter that reference-vehicle runs show"
        " beyond the crossings' own uncertainties (the deck's and the approach's unevenness, and what else"
        " no single crossing shows). It is added to every load's uncertainty, fully correlated between the"
        " axles as a span error is, before rules.max_gross_uncertainty_fraction and rules.near_threshold"
        " use it. `edge calibrate dynamic` computes it from reference-vehicle captures.",
    )
    site_axle_sd_fraction: Array[float] = Field(
        (),
        description="The site's scatter moved between a truck's axles, per speed band (a fraction of each axle"
        " load, standard, one per band of speed_band_edges_kmh; empty: none): what reference-vehicle runs"
        " show on their axle loads beyond the crossings' own uncertainties and site_sd_fraction (an uneven"
        " deck shifts load between the axles). Each axle's share is independent, less their mean, so it"
        " widens axles and groups and leaves the gross as it is. `edge calibrate dynamic --reference-axles`"
        " computes it.",
    )
    capture_dir: str = Field("", description="Folder for raw crossing captures; empty disables capture.")
    capture_budget_mb: float = Field(
        2048, gt=0, description="Disk budget of the captures (MB); the oldest are deleted first."
    )
    drift_alarm_fraction: float = Field(
        0.025,
        gt=0,
        le=0.5,
        description="Steer-axle drift monitor: alarm when the recent mean shifts this much.",
    )
    dynamic_knot_m: float = Field(
        0.5,
        ge=0,
        le=5,
        description="Axle-load estimator: the body's heave and pitch are fitted as time courses shared by the"
        " axles of each vehicle unit, piecewise linear between knots this far apart in distance travelled"
        " (m); 0 fits constant axle loads only.",
    )
    body_min_frequency_hz: float = Field(
        1.5,
        gt=0,
        le=20,
        description="Lowest natural frequency of the sprung-mass (bounce, pitch) modes expected (Hz): the body"
        " terms' prior is the spectrum of damped modes with natural frequencies between this and"
        " body_max_frequency_hz, so the body's motion has no steady part and, at low speed, averages down"
        " over a knot interval; and the slowest pitch, whose lag behind a speed-up bounds how uncertain the"
        " pitch correction's shift of the gross is.",
    )
    body_max_frequency_hz: float = Field(
        4.0,
        gt=0,
        le=20,
        description="Highest natural frequency of the sprung-mass modes expected (Hz); heavy vehicles' body"
        " modes lie around 1.5-4 Hz (axle hop, 8-15 Hz, is another process).",
    )
    body_damping_ratio: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="Damping ratio of the sprung-mass modes in the body terms' prior (typically 0.1-0.3 for"
        " truck suspensions): sets how long the body's motion keeps its rhythm (about"
        " 1 / (2 pi ratio f) s).",
    )
    misfit_correlation_s: float = Field(
        0.06,
        gt=0,
        le=1,
        description="The misfit left by the body terms (axle hop, 8-15 Hz) stays correlated this long (s);"
        " the samples within it count as one observation when weighed against the priors.",
    )
    group_share_std: float = Field(
        0.06,
        ge=0,
        le=1,
        description="Prior spread of an axle's load about its group's mean axle load (fraction), for axles"
        " of a tandem or tridem (load-sharing suspension); the crossing's data override it where they"
        " separate the axles well (low speed). 0.06: a load-sharing suspension must be built so that no tyre"
        " carries over 10 % more than the equal share (Road Traffic (Vehicle Standards) Rules 2002 (WA)"
        " r 59); shares spread evenly within +/-10 % have an sd of 5.8 %. 0 turns the prior off.",
    )

    uncertainty_block_s: float = Field(
        0.1,
        gt=0,
        le=2,
        description="Expanded uncertainty of the loads: the load fit's residuals are averaged in blocks of this"
        " length (s); the spread of the block means says how correlated, and so how telling, the misfit is"
        " (batch means).",
    )
    uncertainty_variance_factor: float = Field(
        0.7,
        gt=0,
        le=4,
        description="Expanded uncertainty of the loads: the batch-means variance is multiplied by this."
        " Batch means over 0.1 s blocks overstate the long-run variance of residuals that oscillate at"
        " the body and axle-hop frequencies; 0.7 is calibrated on the simulator's speed-change"
        " population (bench/wim_accuracy.py, seed 11), 1 is the plain estimate.",
    )
    uncertainty_misfit_floor: bool = Field(
        False,
        description="Expanded uncertainty: take no less than (misfit / the misfit allowance)² of the steady"
        " fit's residual as left by the body-dynamics fit (the estimator before max_accel_mps2 caught"
        " jumps; it sends many normal crossings near the allowance to re-weigh).",
    )
    pulse_uncertainty: bool = Field(
        False,
        description="Expanded uncertainty: add the pitch load transfer of the acceleration the speed profile"
        " does not follow (a throttle blip or brake pulse landing on some axles' time on the scale), as the"
        " strip times show it (edge.wim.motion.pulse_transfer_kg; a high centre of gravity, 2.2 m; none with"
        " speed_profile = per_axle_constant, which fits no profile). It"
        " catches a pulse that moves the gross by more than the class on a short platform where the strips"
        " are good to 1 ms or better; on the simulator's blips it sent 2-5 % more to re-weigh (docs/"
        "benchmarks.md, measured before the rule below), hence off by default. Whether or not it is set,"
        " on a scale of one platform whose profile misfits the strip events by more than 6 times their"
        " noise (scale.strip_timing_sd_s at the mean speed), the term takes the profile misfit's place in"
        " the gross's uncertainty (the strips place the pulse there); the option adds it elsewhere.",
    )
    speed_profile: Literal["ramp", "constant_acceleration", "per_axle_constant"] = Field(
        "ramp",
        description="Axle motion of the axle-load fit. ramp: one speed profile fitted to every axle's strip"
        " times, a constant acceleration, or two cruises joined by a ramp where the strip times show a step"
        " of speed (a throttle blip, a brief brake: 5 or more axles, or fewer with intermediate strips, load edges"
        " or centre-of-load events), each axle's"
        " pitch load transfer taken at the acceleration of its own time on the scale. constant_acceleration:"
        " the constant acceleration alone (the estimator before ramps). per_axle_constant: each axle at its"
        " own constant speed between the strips (the estimator before profiles).",
    )
    load_edge_timing_sd_s: float = Field(
        0.004,
        ge=0,
        le=0.1,
        description="Standard uncertainty (s) of the times the load signals show each axle's load half"
        " across a joint between two platforms (a scale of 2 or more platforms, at joints without an"
        " intermediate strip): with the speed profile (not per_axle_constant), those times join the strip"
        " events in a second fit of the profile, weighted by scale.strip_timing_sd_s over this. 0: not"
        " used (the estimator before load edges).",
    )
    moment_split: bool = Field(
        True,
        description="Combine the footprint fit's split of each group's load (a tandem, a tridem: axles"
        " within rules.group_max_spacing_m) with the one the platforms' exit cells show (edge.wim.moment): by"
        " the lever rule an axle a fraction u along a platform puts u of its load on them, so while a group"
        " stands on a platform alone they give its centre of load, over the whole residence, where the"
        " footprint fit sees the split only at the platform edges; where a tridem stands on a platform alone"
        " for 4 or more of its spacings in all, its two axles on a platform as it enters or leaves give its"
        " middle axle too. Placed by the speed profile, uncertain by about the speed times"
        " scale.strip_timing_sd_s. The two are weighed by their uncertainties, and the footprint fit's is"
        " widened by how much the exit cells show the split moving along the scale; each group's total,"
        " every lone axle and the gross stay the footprint fit's. A run (a group, or two or more of a"
        " tridem's axles, on one platform) whose exit signal the loads do not explain by the lever rule"
        " within 20 % RMS is left out. false: the footprint fit's split and uncertainty alone (the"
        " estimator before it).",
    )
    load_centre_sd_m: float = Field(
        0.002,
        ge=0,
        le=1.0,
        description="Standard uncertainty (m) of where the centre of load along a platform puts an axle that"
        " stands on it alone (the exit cells' share of the platform's load times its length, averaged over"
        " 0.1 s or less: edge.wim.centre). With the speed profile (not per_axle_constant) those positions"
        " join the strip events in the profile's fit, weighted by the strips' uncertainty in metres"
        " (scale.strip_timing_sd_s at the scale's length over the axles' mean time on it) over this, and the"
        " axle's acceleration meanwhile is checked against the profile's (load_centre_accel_tolerance_mps2)."
        " Assumes the documented lever rule (cells under the platform's ends); a platform whose positions"
        " do not travel with the strips' profile (or sit 0.5 m off it in the median) gives none. 0: not used (the estimator"
        " before the centre of load).",
    )
    load_centre_accel_tolerance_mps2: float = Field(
        0.15,
        ge=0,
        le=10.0,
        description="Where an axle that stood alone on a platform shows (by its centre of load) an acceleration"
        " that departs from the speed profile's over the same time by more than this (m/s²) and by more than"
        " twice its standard error, every axle that stood alone is taken as weighed under its own measured"
        " acceleration in the pitch load transfer, not the profile's: a brake that starts between two axles'"
        " weighings, which the strips cannot see. The transfer's share of the gross is then in its"
        " uncertainty, as under a ramp.",
    )
    load_edge_margin_m: float = Field(
        0.075,
        gt=0,
        le=1.0,
        description="A load edge's time is read over the axle's travel from half scale.tyre_footprint_m plus"
        " this (m) before a joint to as far after it: the contact patch's whole passage with a margin for"
        " where the profile placed the axle.",
    )

    @model_validator(mode="after")
    def _check(self) -> WimConfig:
        edges = self.speed_band_edges_kmh
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("speed_band_edges_kmh must increase")
        if self.body_max_frequency_hz < self.body_min_frequency_hz:
            raise ValueError("body_max_frequency_hz must be at least body_min_frequency_hz")
        for key, factors in self.corrections.items():
            if len(factors) != len(edges) - 1:
                raise ValueError(
                    f"corrections.{key} has {len(factors)} factors for {len(edges) - 1} speed bands;"
                    " give one factor per band"
                )
            if any(not 0.8 <= f <= 1.2 for f in factors):
                raise ValueError(f"corrections.{key}: a factor outside 0.8-1.2 means a broken calibration")
        for name in ("site_sd_fraction", "site_axle_sd_fraction"):
            site = getattr(self, name)
            if site and len(site) != len(edges) - 1:
                raise ValueError(
                    f"{name} has {len(site)} values for {len(edges) - 1} speed bands;"
                    " give one per band (or none), as `edge calibrate dynamic` prints them"
                )
            if any(not 0.0 <= f <= SITE_SD_FRACTION_MAX for f in site):
                raise ValueError(
                    f"{name}: a value outside 0-{SITE_SD_FRACTION_MAX:g} means a broken scale or"
                    " calibration: check the scale before weighing on it"
                )
        return self


class LaneConfig(_Strict):
    session_timeout_s: float = Field(
        180, gt=5, description="A vehicle that has not left the scale after this long is closed as re-weigh."
    )
    data_wait_s: float = Field(
        0.3, gt=0, le=5, description="How long to wait for load samples covering the last axle's exit."
    )
    idle_lines: Array[str] = Field(
        ("减速慢行", "依次称重"), max_length=4, description="Display text while the lane waits for a vehicle."
    )
    idle_after_s: float = Field(
        8.0, gt=0, description="Return the display to idle_lines this long after a verdict."
    )
    stop_wait_s: float = Field(
        20.0,
        ge=0,
        le=600,
        description="On SIGTERM, how long a vehicle on the scale may take to finish its crossing (it is then"
        " judged as usual); one still on the scale after this is recorded as interrupted (re-weigh).  Keep it"
        " under the unit's TimeoutStopSec=.",
    )

    @model_validator(mode="after")
    def _check_lines(self) -> LaneConfig:
        for line in self.idle_lines:
            if len(line.encode("utf-8")) > 64:
                raise ValueError(
                    f"idle_lines: {line!r} is {len(line.encode('utf-8'))} UTF-8 bytes; the board takes at most 64"
                    " (about 21 Chinese characters): shorten it"
                )
        return self


class EvidenceConfig(_Strict):
    database: str = Field("var/evidence.db", description="SQLite file (WAL mode) for records and the outbox.")
    budget_mb: float = Field(
        8192,
        gt=0,
        description="Disk budget of the evidence database and its attachments (MB).  Over it, records"
        " already uploaded (PUBACK) are evicted oldest first to chain-only stubs that still verify;"
        " records not yet uploaded are never deleted: the daemon raises an alarm instead (health,"
        " heartbeat, log).",
    )
    retention_interval_s: float = Field(
        60, ge=1, le=86400, description="How often the retention checks the budget (s)."
    )


class MqttConfig(_Strict):
    enabled: bool = Field(True, description="Publish records; when false they stay in the outbox.")
    host: str = Field("127.0.0.1", description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    client_id: str = Field("", description="MQTT client id; empty means edge-<site id>-<lane>.")
    username: str = Field("", description="Broker user name; empty for none.")
    password: SecretStr = Field(SecretStr(""), description="Broker password; never logged.")
    topic_prefix: str = Field(
        "site", pattern=r"^[A-Za-z0-9_/-]+$", description="Topics are <prefix>/<site id>/..."
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive (s).")
    publish_timeout_s: float = Field(
        10, gt=0, description="A publish not acknowledged (PUBACK) in this time fails."
    )
    max_inflight: int = Field(
        256, ge=1, le=1000, description="Records published concurrently while draining the outbox."
    )
    reconnect_max_s: float = Field(10, gt=0, description="Longest back-off between reconnect attempts (s).")
    heartbeat_s: float = Field(
        30, gt=0, le=3600, description="Retained status with device health is published this often (s)."
    )
    pause_while_weighing_max_s: float = Field(
        30,
        ge=0,
        le=3600,
        description="While a vehicle crosses the scale, until its verdict is shown, the uplink starts no new"
        " batch of a backlog (a full mqtt.max_inflight batch); the newest few records and the heartbeat"
        " still go out.  A busy period longer than this no longer holds the backlog back (a sensor stuck"
        " on 'vehicle present' must not starve the uplink).  0 never holds it back (s).",
    )
    refused_retry_max_s: float = Field(
        60,
        gt=0,
        le=3600,
        description="Longest pause before records are published again after the broker refused some (an"
        " MQTT 5 PUBACK reason code >= 0x80, e.g. 0x87 Not authorized); the pause starts at 1 s and doubles"
        " while every retry is refused.  Refused records stay in the outbox (s).",
    )
    tls_ca_file: str = Field(
        "",
        description="CA certificate (PEM) the broker's certificate must chain to; setting it turns TLS on."
        " Empty means plain TCP (loopback or a trusted network only).",
    )
    tls_cert_file: str = Field(
        "",
        description="The station's client certificate (PEM); with the example broker configuration"
        " (docs/mosquitto/) its CN must be the site id.",
    )
    tls_key_file: str = Field("", description="The private key of tls_cert_file (PEM).")
    tls_key_password: SecretStr = Field(
        SecretStr(""), description="Password of an encrypted tls_key_file; never logged."
    )

    @model_validator(mode="after")
    def _check_tls(self) -> MqttConfig:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together: give both or neither")
        if self.tls_cert_file and not self.tls_ca_file:
            raise ValueError("a client certificate needs TLS: set tls_ca_file too")
        return self


class QueryConfig(_Strict):
    """Central queries over MQTT 5 request/response (docs/central-queries.md)."""

    enabled: bool = Field(
        True,
        description="Answer central requests on <prefix>/<site id>/lane/<lane>/query (needs mqtt.enabled).",
    )
    response_prefixes: Array[str] = Field(
        (),
        description="A request's Response Topic must start with one of these; empty means the station's own"
        " <prefix>/<site id>/response/, the only subtree the example broker ACL lets a station write besides"
        " its lanes.  Requests naming any other topic are dropped and logged, never answered.",
    )
    token: SecretStr = Field(
        SecretStr(""),
        description="Shared secret a request must carry in its `token` field; empty means the broker's"
        " ACL alone decides who may ask.  Never logged.",
    )
    max_request_bytes: int = Field(
        65536, ge=1024, le=1 << 20, description="Larger request payloads get a `too_large` error."
    )
    max_packet_bytes: int = Field(
        262144,
        ge=4096,
        le=1 << 28,
        description="Largest MQTT message the station sends in a response; larger objects (images, raw"
        " captures, long pages) go in chunks.  Keep it below the broker's message_size_limit /"
        " max_packet_size (Mosquitto 2.1: 2 MB by default).",
    )
    max_page_size: int = Field(500, ge=1, le=10000, description="Most records one `records` page returns.")
    max_file_mb: float = Field(
        256, gt=0, description="Larger attachments and captures are refused with `too_large` (MB)."
    )


class PlatesConfig(_Strict):
    enabled: bool = Field(False, description="Read licence plates from the lane camera.")
    camera: str = Field(
        "",
        description="Camera source for OpenCV: a USB index ('0'), a stream URL ('rtsp://user:pw@host/...'),"
        " or a folder that JPEG frames are written into (FTP-push cameras, the simulator). The front camera:"
        " it sees the vehicle's front plate (a truck's single-row yellow plate) as it approaches.",
    )
    rear_camera: str = Field(
        "",
        description="Optional second camera of the lane, the same kinds of source as plates.camera, facing"
        " the vehicle's rear plate (a truck's double-row yellow plate, a trailer's 挂 plate); empty = none."
        " Its frames from the same window join the vote.",
    )
    rear_offset_s: float = Field(
        0.0,
        ge=0,
        le=60,
        description="The rear camera's window is this much later than the front one's (s): the rear plate"
        " passes it after the separator saw the vehicle's front.",
    )
    pre_trigger_s: float = Field(
        6.0,
        ge=0,
        le=30,
        description="Frames from this long before the separator saw the vehicle are read (s).",
    )
    post_trigger_s: float = Field(
        1.0, ge=0, le=30, description="... and frames up to this long after it (s)."
    )
    max_frames: int = Field(
        6, ge=1, le=50, description="At most this many frames are read per vehicle and camera."
    )
    min_confidence: float = Field(
        0.5, ge=0, le=1, description="A plate read less surely than this is kept but flagged 'unsure'."
    )
    wait_s: float = Field(
        3.0, ge=0, le=60, description="How long a record waits for its plate after the verdict (s)."
    )
    threads: int = Field(1, ge=1, le=16, description="onnxruntime threads for plate reading.")
    model_dir: str = Field("", description="Folder of the plate ONNX models; empty = the packaged ones.")
    home_province: str = Field(
        "",
        pattern=r"^\p{Han}?$",
        description="The station's own province character (e.g. '皖'); empty = no prior. Most plates at a"
        " station are local, and the province character is the hardest to read: a weak reading of it leans"
        " towards this one.  The plate reader checks it against the GA 36 province list when it starts.",
    )
    home_province_share: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Share of the station's traffic expected to carry plates of plates.home_province.",
    )

    @model_validator(mode="after")
    def _camera_needed(self) -> PlatesConfig:
        if self.enabled and not self.camera:
            raise ValueError("plates.enabled needs plates.camera (a USB index, a stream URL or a folder)")
        return self


class TrustedKey(_Strict):
    """A central office public key that downlink documents must be signed with (``edge central keygen``
    prints one)."""

    id: str = Field(
        min_length=1, max_length=64, description="The key's name; the signed envelope's key_id picks it."
    )
    scheme: Literal["ed25519"] = Field("ed25519", description="Signature scheme (SM2 may follow).")
    public_key: str = Field(description="The raw public key in base64 (32 bytes for ed25519).")

    @field_validator("public_key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"an ed25519 public key is 32 bytes, this one is {len(raw)}")
        return value


class DownlinkConfig(_Strict):
    """Versioned retained documents from the central office (docs/downlink.md)."""

    enabled: bool = Field(
        True,
        description="Receive the watch-list, permits and the remote config subset (rules.tolerance_factor,"
        " lane.idle_lines, lane.idle_after_s) on <prefix>/<site id>/downlink/<kind>; needs mqtt.enabled.",
    )
    trusted_keys: Array[TrustedKey] = Field(
        (),
        max_length=8,
        description="Central office public keys ([[downlink.trusted_keys]] id, scheme, public_key). Every"
        " document must be signed with one of them (`edge central sign`); an unsigned or wrongly signed"
        " one is rejected and the last good one stays. Without keys every document is rejected, unless"
        " accept_unsigned is set.",
    )
    accept_unsigned: bool = Field(
        False,
        description="Accept unsigned documents (a lab or demo only: anyone who can publish on the"
        " downlink topics could then change the station's permits, watch-list and tolerance). Not"
        " allowed together with trusted_keys.",
    )

    @model_validator(mode="after")
    def _one_policy(self) -> DownlinkConfig:
        if self.accept_unsigned and self.trusted_keys:
            raise ValueError(
                "accept_unsigned cannot be true when trusted_keys is set: signatures are required"
            )
        return self


class MetricsConfig(_Strict):
    """A Prometheus endpoint (text format on /metrics); off unless enabled."""

    enabled: bool = Field(False, description="Serve Prometheus metrics.")
    bind: str = Field(
        "127.0.0.1", description="Address to listen on: loopback, or the technician/monitoring interface."
    )
    port: int = Field(9108, ge=1, le=65535, description="TCP port; give each lane of a host its own.")


class WeighbridgeVehicle(_Strict):
    """What the site knows of one plate (the vehicle registry of a static weighbridge)."""

    axles: int | None = Field(None, ge=2, le=12, description="Axle count; default weighbridge.default_axles.")
    axle_groups: Array[int] = Field(
        (), description="Axles per group, front to rear (e.g. [1, 2, 3]); default from the axle count."
    )
    tare_kg: float | None = Field(None, gt=0, description="Stored tare (kg), used when no tare was weighed.")
    carrier: str = Field("", description="The transport company (运输企业).")
    driver: str = Field("", description="The usual driver.")


class WeighbridgeCard(_Strict):
    """An RFID/IC card issued to a truck: what the site learns when it is read at the entry."""

    plate: str = Field("", description="The plate the card was issued to (checked against the camera).")
    carrier: str = Field("", description="The transport company (运输企业).")
    driver: str = Field("", description="The driver the card is issued to.")
    cargo: str = Field("", description="The cargo type this card's trips carry.")
    waybill: str = Field("", description="The waybill (运单) number.")


class WeighbridgeConfig(_Strict):
    """A static weighbridge (site.kind = "static_weighbridge"): unattended weighing at a source enterprise
    (mine, quarry, plant, port); see docs/weighbridge.md."""

    mode: Literal["single", "two_pass"] = Field(
        "single",
        description="single: one gross weighing per visit (net from a stored tare when known); two_pass:"
        " the first weighing of a visit is the tare (arrival, empty), the next the gross (departure).",
    )
    enterprise_id: str = Field(
        "", description="The source enterprise's ID (统一社会信用代码) on every record."
    )
    enterprise_name: str = Field("", description="The source enterprise's name.")
    cargo: str = Field("", description="Default cargo type (e.g. 砂石, 水泥, 钢材).")
    tolerance_factor: float = Field(
        1.0,
        ge=1.0,
        le=1.5,
        description="Refuse when gross > limit x this factor.  Static weighing gets no dynamic tolerance:"
        " keep 1.0 unless the provincial rules grant one.",
    )
    default_axles: int = Field(
        6,
        ge=2,
        le=12,
        description="Axle count of a truck that no source counts: no axle sensor, and a plate neither in"
        " weighbridge.vehicles nor in the central registry (downlink kind registry).",
    )
    axle_sensor: bool = Field(
        False,
        description="Count each truck's axles (and tyre kinds) with devices.axle_sensor, a tyre/axle"
        " recogniser whose entry strip lies at the deck's entry end; the count wins over weighbridge.vehicles"
        " and the registry, and a disagreement is stated on the record.",
    )
    division_kg: float = Field(20.0, gt=0, description="The weighbridge's verification interval e (kg).")
    max_kg: float = Field(100_000.0, gt=0, description="The weighbridge's capacity Max (kg).")
    stable_window_s: float = Field(1.0, gt=0, le=10, description="Stability window (s), OIML R76 practice.")
    stable_band_divisions: float = Field(1.0, gt=0, le=10, description="Peak-to-peak band of the window (e).")
    occupied_kg: float = Field(
        400.0, gt=0, description="A deck reading above this means something stands on the deck (kg)."
    )
    settle_timeout_s: float = Field(
        120.0,
        gt=0,
        description="A truck fully on the deck that gives no stable reading this long is told why.",
    )
    zero_band_kg: float = Field(
        60.0, gt=0, description="An empty deck within this of zero has returned to zero between trucks (kg)."
    )
    low_tare_fraction: float = Field(
        0.08,
        gt=0,
        lt=1,
        description="Flag a tare that is lower than the plate's median of earlier tares by more than this"
        " fraction (a truck weighed empty with parts taken off, or another truck's tare).",
    )
    entry_camera: str = Field(
        "",
        description="Folder an LPR camera at the entry pushes its pictures into, the plate in the file name"
        " (<time>_<plate>.jpg, as Hikvision and Dahua cameras name them); empty = none.",
    )
    exit_camera: str = Field("", description="Likewise, the camera at the exit end of the deck.")
    plate_wait_s: float = Field(
        0.3, ge=0, le=10, description="How long the decision waits for a camera's picture that is late (s)."
    )
    read_plates: bool = Field(
        True,
        description="A picture whose file name carries no plate (a plain IP camera, or an LPR camera that"
        " read none) is read by the station's own plate models ([plates] model_dir, threads, home_province);"
        " only a reading the reader is sure of (valid) is taken.",
    )
    visit_timeout_h: float = Field(
        24.0, gt=0, description="An open two-pass visit older than this is no longer continued (h)."
    )
    vehicles: dict[str, WeighbridgeVehicle] = Field(
        default_factory=dict, description="Per plate: axles, stored tare, carrier, driver."
    )
    cards: dict[str, WeighbridgeCard] = Field(
        default_factory=dict, description="Per RFID/IC card number: plate, carrier, driver, cargo, waybill."
    )


class LidarScannerConfig(_Device):
    """One 2-D scanner of the outline gantry (type sick_lms5xx: CoLa B over TCP) and where it hangs."""

    role = "lidar"
    port: str = Field(
        description="pyserial URL of the scanner, normally socket://<its address>:2112 (CoLa B)."
    )
    name: str = Field(min_length=1, max_length=32, description="The scanner's name (overhead, left, right).")
    y_m: float = Field(ge=-20, le=20, description="Across the lane from the lane centre (m, + = right).")
    z_m: float = Field(gt=0, le=20, description="Height above the road (m).")
    mount_deg: float = Field(
        ge=-360,
        le=360,
        description="Turns the scanner's own angle into the lane's (0 = +y, 90 = up); 180 for a scanner"
        " looking down from above, -90 / 90 for one on the left / right post looking across.",
    )
    x_m: float = Field(0.0, ge=-5, le=5, description="Along the lane from the gantry plane (m).")
    speed_pair: str = Field(
        "",
        max_length=32,
        description="Makes this scanner a speed scanner: the name of the gantry scanner it pairs with, which"
        " it must hang upstream of (lower x_m, at least 1 m), looking the same way.  Its scans only measure"
        " the vehicle's speed (the time its profile takes from one to the other), which corrects the WIM"
        " speed profile's scale in the length (docs/outline.md).  Empty: an ordinary gantry scanner.",
    )


class OutlineConfig(_Strict):
    """Outline dimensions (外廓尺寸) from a LiDAR gantry at the light curtain, judged against the oversize
    limits of 交通运输部令2016年第62号 第三条 (height 4.0 m, width 2.55 m, length 18.1 m).  Off: the lane
    judges weight only, exactly as without this section."""

    enabled: bool = Field(False, description="Measure every vehicle's length, width and height.")
    scanners: Array[LidarScannerConfig] = Field(
        (), max_length=8, description="[[outline.scanners]]: the gantry's scanners, each with its mounting."
    )
    window_pad_s: float = Field(
        0.3,
        ge=0,
        le=2,
        description="Scans this long before the curtain's ENTER and after its LEAVE belong to the vehicle"
        " (covers a gantry up to pad x speed from the curtain).",
    )
    coverage: float = Field(
        2.0,
        ge=1,
        le=4,
        description="Coverage factor k: a dimension is over when value - k u exceeds its limit, within"
        " when value + k u does not, else uncertain.",
    )
    uncertain: Literal["pass", "refuse", "reweigh"] = Field(
        "pass",
        description="The rule for a dimension within k u of its limit: pass (the measurement does not"
        " show it over; noted in the reasons), refuse, or reweigh (drive through again).",
    )
    wait_s: float = Field(
        1.0,
        gt=0,
        le=10,
        description="Longest wait at the verdict for the outline; past it the verdict goes out flagged"
        " 'outline unavailable'.",
    )
    speed_rel_sigma: float = Field(
        0.005,
        gt=0,
        le=0.1,
        description="Relative 1-sigma uncertainty of the WIM axle timing's speed profile (strip spacing,"
        " timing): it carries into the length's uncertainty, and weighs the profile against a speed"
        " scanner's own measurement (speed_pair).",
    )

    @model_validator(mode="after")
    def _scanners_needed(self) -> OutlineConfig:
        if self.enabled and not self.scanners:
            raise ValueError("outline.enabled needs at least one [[outline.scanners]]")
        names = [s.name for s in self.scanners]
        if len(names) != len(set(names)):
            raise ValueError("outline.scanners: each scanner needs its own name")
        by_name = {s.name: s for s in self.scanners}
        for s in self.scanners:
            if not s.speed_pair:
                continue
            partner = by_name.get(s.speed_pair)
            if partner is None or partner.speed_pair:
                raise ValueError(
                    f"outline.scanners {s.name}: speed_pair {s.speed_pair!r} must name another scanner of"
                    " the gantry that is not itself a speed scanner"
                )
            if partner.x_m - s.x_m < 1.0:
                raise ValueError(
                    f"outline.scanners {s.name}: a speed scanner hangs at least 1 m upstream of its partner"
                    f" (x_m {s.x_m:g} against {partner.x_m:g} for {partner.name})"
                )
        return self


class ConsoleConfig(_Strict):
    """The technician's web console (edge/console, docs/console.md); off unless enabled."""

    enabled: bool = Field(False, description="Serve the technician console.")
    bind: str = Field(
        "127.0.0.1",
        description="Address to listen on: loopback (the default) or the technician interface's own address;"
        " never a wildcard (0.0.0.0, ::).",
    )
    port: int = Field(8470, ge=1, le=65535, description="TCP port; give each lane of a host its own.")
    password_hash: str = Field(
        "",
        description="scrypt hash of the technician's password, from `edge console hash-password`;"
        " empty: no password (then client_ca is required).",
    )
    tls_cert: str = Field(
        "", description="PEM certificate the console serves HTTPS with (empty: plain HTTP)."
    )
    tls_key: str = Field("", description="PEM private key of tls_cert.")
    client_ca: str = Field(
        "",
        description="PEM CA bundle: when set, every client must present a certificate it signed (needs tls_cert).",
    )
    waveform_hz: float = Field(
        4.0, gt=0, le=20, description="Waveform pushes per second to each open console (rate limit)."
    )
    waveform_points_per_s: int = Field(
        100, ge=10, le=1000, description="Points per second and platform in the pushed waveform (decimation)."
    )
    session_hours: float = Field(12.0, gt=0, le=168, description="A login lasts this long.")

    @model_validator(mode="after")
    def _check(self) -> ConsoleConfig:
        if self.bind.strip() in ("", "0.0.0.0", "::", "*"):
            raise ValueError(
                "console.bind must name one address (127.0.0.1, or the technician interface's), not a wildcard"
            )
        if self.password_hash and not self.password_hash.startswith("scrypt$"):
            raise ValueError("console.password_hash is not a hash from `edge console hash-password`")
        if self.enabled and not self.password_hash and not self.client_ca:
            raise ValueError(
                "console.enabled needs console.password_hash (edge console hash-password) or console.client_ca"
            )
        if self.client_ca and not (self.tls_cert and self.tls_key):
            raise ValueError("console.client_ca needs console.tls_cert and console.tls_key (HTTPS)")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("console.tls_cert and console.tls_key go together")
        return self


class Config(_Strict):
    """The whole configuration file: one table per section."""

    site: SiteConfig = Field(description="Which station and lane this is.")
    scale: ScaleConfig = Field(default_factory=lambda: ScaleConfig(), description="Scale geometry and span.")
    devices: DevicesConfig = Field(description="The lane's devices and their serial links.")
    rules: RulesConfig = Field(
        default_factory=lambda: RulesConfig(), description="Legal limits and the re-weigh criteria."
    )
    wim: WimConfig = Field(
        default_factory=lambda: WimConfig(), description="Axle-load estimation, corrections, captures."
    )
    lane: LaneConfig = Field(default_factory=lambda: LaneConfig(), description="Lane sequencing and display.")
    evidence: EvidenceConfig = Field(
        default_factory=lambda: EvidenceConfig(), description="The evidence database and its budget."
    )
    mqtt: MqttConfig = Field(
        default_factory=lambda: MqttConfig(), description="The uplink's broker connection."
    )
    query: QueryConfig = Field(default_factory=lambda: QueryConfig(), description="Central queries.")
    plates: PlatesConfig = Field(default_factory=lambda: PlatesConfig(), description="Licence-plate reading.")
    downlink: DownlinkConfig = Field(
        default_factory=lambda: DownlinkConfig(), description="Documents from the central office."
    )
    metrics: MetricsConfig = Field(default_factory=lambda: MetricsConfig(), description="Prometheus metrics.")
    outline: OutlineConfig = Field(
        default_factory=lambda: OutlineConfig(), description="Outline dimensions from a LiDAR gantry."
    )
    console: ConsoleConfig = Field(
        default_factory=lambda: ConsoleConfig(), description="The technician's web console."
    )
    weighbridge: WeighbridgeConfig = Field(
        default_factory=lambda: WeighbridgeConfig(), description="A static weighbridge's flow (site.kind)."
    )

    @model_validator(mode="before")
    @classmethod
    def _weighbridge_devices(cls, data: object) -> object:
        """A static weighbridge has no WIM lane devices: they default to unused loop:// ports there."""
        if not isinstance(data, dict) or not isinstance(data.get("site"), dict):
            return data
        if data["site"].get("kind") != "static_weighbridge" or not isinstance(data.get("devices"), dict):
            return data
        devices = dict(data["devices"])
        for role in ("wim", "separator", "axle_sensor"):
            devices.setdefault(role, OFFLINE_DEVICES[role])
        return {**data, "devices": devices}

    @model_validator(mode="after")
    def _weighbridge_needs(self) -> Config:
        if self.site.kind == "static_weighbridge" and (
            self.devices.indicator is None or self.devices.position is None
        ):
            raise ValueError(
                "site.kind = static_weighbridge needs devices.indicator and devices.position"
                " (see docs/weighbridge.md)"
            )
        if self.weighbridge.axle_sensor and self.devices.axle_sensor.port == "loop://":
            raise ValueError(
                "weighbridge.axle_sensor = true needs devices.axle_sensor: the tyre/axle recogniser at the"
                ' deck\'s entry end (type = "tyre_recogniser", port = its serial port)'
            )
        return self

    @model_validator(mode="after")
    def _site_scatter_within_class(self) -> Config:
        site = self.wim.site_sd_fraction
        allowed = self.rules.max_gross_uncertainty_fraction
        if site and 2.0 * max(site) >= allowed:
            raise ValueError(
                f"wim.site_sd_fraction reaches {max(site):g}: with it every gross is uncertain by at least"
                f" {2.0 * max(site):.2%} (k = 2), at or beyond rules.max_gross_uncertainty_fraction"
                f" ({allowed:.2%}), so every truck would be re-weighed. Mend the deck and its approach and"
                " calibrate again, or set rules.max_gross_uncertainty_fraction to the class the scale meets"
            )
        return self


#: Devices of a Config used away from the lane (replay, benchmarks, tests): every port is loop://.
OFFLINE_DEVICES: dict[str, dict[str, str]] = {
    role: {"type": kind, "port": "loop://"}
    for role, kind in (
        ("wim", "wim_digitiser"),
        ("separator", "light_curtain"),
        ("axle_sensor", "tyre_recogniser"),
        ("display", "led_display"),
        ("barrier", "barrier"),
    )
}


def _without_device_tag(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``devices.indicator.xk3190_a9.mode`` -> ``devices.indicator.mode``: the discriminated union's tag
    is not a key of the file."""
    if len(loc) > 2 and loc[0] == "devices" and loc[2] in _DEVICE_TAGS:
        return (*loc[:2], *loc[3:])
    return loc


_DEVICE_TAGS = frozenset(("xk3190_a9", "toledo_continuous", "mt_sics", "modbus_rtu"))


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}. Fix the syntax at that line.") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = format_errors(
            exc,
            source=source,
            text=text,
            fixes={"extra_forbidden": "misspelt? `edge config schema` lists the allowed keys"},
            relocate=_without_device_tag,
        )
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; pass the path of a TOML config (see config/lane.example.toml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot be read ({exc}); check the permissions and that it is UTF-8 text"
        ) from exc
    return parse_config(text, str(path))
