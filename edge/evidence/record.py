"""The evidence record: one typed model, written by the recording stage and read by every other reader.

The store keeps the record as canonical JSON (``EvidenceRecord.to_json_dict``), hashes and signs that
text, and hands it to the outbox.  Readers (the demo's table, capture replay, central queries, the
evidence tools) parse it back with :meth:`EvidenceRecord.from_json_dict` and read attributes, never keys.

Schema ``weighlane.record/1``.  A field that was not known when a record was made is left out of its
JSON (``exclude_unset``), so a record signed by an older release keeps its exact text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.rules import Verdict

__all__ = [
    "RECORD_SCHEMA",
    "EvidenceRecord",
    "RecordAxleGroup",
    "RecordCalibration",
    "RecordLimit",
    "RecordOutline",
    "RecordPermit",
    "RecordRegistry",
    "RecordStatic",
    "RecordStaticCheat",
    "RecordTiming",
    "RecordWatchMatch",
    "RecordWim",
    "Software",
]

RECORD_SCHEMA = "weighlane.record/1"


class _Part(BaseModel):
    # Records are facts once written: frozen.  Unknown keys are kept (a newer release's record read by
    # an older reader, or a signed record whose text must not change), never dropped.
    model_config = ConfigDict(frozen=True, extra="allow")


class RecordWim(_Part):
    """What the weighing measured.  A value that could not be computed is null, never NaN."""

    axle_loads_kg: list[float | None] = Field(default_factory=list, description="Per axle, driving order.")
    axle_spacings_m: list[float | None] = Field(default_factory=list, description="Between axles i, i+1.")
    axle_speeds_kmh: list[float | None] = Field(default_factory=list, description="Per axle.")
    speed_kmh: float | None = Field(None, description="The vehicle's speed over the scale.")
    gross_kg: float | None = Field(None, description="Gross vehicle weight (after the dynamic correction).")
    residual_rms_kg: float | None = Field(None, description="RMS misfit of the load model.")
    samples_used: int = Field(0, description="Load samples the fit used.")
    samples_lost: int = Field(0, description="Samples the digitiser link lost during the crossing.")
    gross_uncertainty_kg: float | None = Field(None, description="Expanded (k = 2) uncertainty of the gross.")
    axle_uncertainties_kg: list[float | None] = Field(
        default_factory=list, description="Expanded (k = 2) uncertainty of each axle load."
    )
    acceleration_mps2: float | None = Field(None, description="The fitted speed profile's acceleration.")
    speed_change_fraction: float | None = Field(None, description="Speed change over the scale / mean speed.")
    site_sd_fraction: float | None = Field(
        None,
        description="The site's own scatter common to every axle at this speed band (wim.site_sd_fraction),"
        " counted in the uncertainties; absent where the site has none.",
    )
    site_axle_sd_fraction: float | None = Field(
        None,
        description="The site's own scatter moved between the axles at this speed band"
        " (wim.site_axle_sd_fraction), counted in the axle uncertainties; absent where the site has none.",
    )
    site_error_kg: float | None = Field(
        None,
        description="The common share's part of gross_uncertainty_kg (k = 2, kg, in quadrature with the rest);"
        " absent where the site has no scatter.",
    )


class RecordLimit(_Part):
    """The limit applied and the threshold that decided."""

    limit_kg: int = Field(description="Legal gross limit for the vehicle's class after deductions (kg).")
    base_limit_kg: int = Field(description="The table's limit before deductions (kg).")
    rule_id: str = Field(description="The rule of the limits table that applied.")
    rule_text: str = Field(description="That rule in words.")
    source: str = Field(description="The legal source of the limits table.")
    deductions: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    tolerance_factor: float = Field(description="Refusal threshold = limit x this factor.")
    threshold_kg: float = Field(description="The refusal threshold (kg).")
    row_source: str | None = Field(None, description="The applied row's own law and clause.")
    axle_sum_kg: int | None = Field(None, description="Sum of the axle(-group) limits (Order 62 art. 3).")
    axle_sum_applied: bool | None = Field(
        None, description="Whether that sum was lower and became the limit."
    )


class RecordAxleGroup(_Part):
    """One axle group's limit (GB 1589-2016) and measured load."""

    group: int = Field(description="1-based group number, front to rear.")
    axles: list[int] = Field(description="1-based axle numbers.")
    kind: str = Field(description="single, tandem or tridem.")
    position: str = Field(description="steer, drive or other.")
    spacing_m: float | None = None
    limit_kg: int | None = Field(None, description="Null: no row matched.")
    rule_id: str | None = None
    rule_text: str = ""
    source: str = ""
    verified: bool = Field(False, description="Whether the number was read in the standard's own text.")
    deductions: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    load_kg: float | None = None
    threshold_kg: float | None = None
    over_kg: float | None = Field(None, description="Load above the limit (0 when within it).")
    beyond_tolerance: bool = Field(False, description="The measured load is above the threshold.")
    uncertainty_kg: float | None = Field(
        None,
        description="Expanded (k = 2) uncertainty of the load, from the axle loads' covariance (the axles of"
        " a group share the platform, so their errors partly cancel); null: not known.",
    )
    finding: str | None = Field(
        None,
        description="over (load - uncertainty above the threshold), within (load + uncertainty below it) or"
        " uncertain (between); null without a load or a limit.",
    )
    rule_applied: str | None = Field(
        None, description="rules.near_threshold (measured, refuse, pass, reweigh) for an uncertain finding."
    )
    counts_as: str | None = Field(None, description="over, within or reweigh: the finding after that rule.")
    why: str = Field("", description="The finding and the rule applied, in words.")
    findings_rule: str | None = Field(
        None, description="The limits table's findings: refuse (a finding can change the verdict) or report."
    )


class RecordTiming(_Part):
    """UTC times of the crossing (ISO 8601 with milliseconds) and the verdict's latency."""

    curtain_enter_utc: str | None = None
    curtain_leave_utc: str | None = None
    last_axle_exit_utc: str | None = None
    decided_utc: str | None = None
    verdict_latency_ms: float | None = Field(None, description="From the last axle's exit to the board.")


class RecordCalibration(_Part):
    """Which calibration and zero weighed the vehicle."""

    kg_per_count: float | list[float]
    static: dict[str, Any] | None = Field(None, description="Identity of the active static calibration.")
    static_overdue: bool | None = None
    zero_source: str = Field(description="preroll, tracked or none.")
    dynamic_correction_factor: float = 1.0
    drift_monitor: dict[str, Any] = Field(default_factory=dict)
    span_check: dict[str, Any] | None = Field(
        None,
        description="The load cells' span check at the verdict (edge.wim.span): alarm, message, observations,"
        " each platform's median log cross ratio; absent where the scale has no 4-cell platforms.",
    )


class RecordPermit(_Part):
    """The permit (大件运输许可) of the plate read, and what it said about the vehicle."""

    permit_id: str
    status: str = Field(
        description="covers, exceeded or mismatch (大车小证), expired, not_yet_valid or not_on_route."
    )
    problems: list[str] = Field(default_factory=list, description="Each names the permit field that failed.")
    max_gross_kg: int = Field(description="The permitted gross (kg).")
    applied_to_verdict: bool = Field(description="Whether the permit was known when the verdict was shown.")


class RecordOutline(_Part):
    """The outline dimensions (外廓尺寸) the LiDAR gantry measured, and the oversize verdict on them."""

    status: str = Field(description="measured, or unavailable (then reason says why; the weight decided).")
    reason: str | None = Field(None, description="Why the outline is unavailable.")
    length_m: float | None = None
    width_m: float | None = None
    height_m: float | None = None
    u_length_m: float | None = Field(None, description="Standard (1 sigma) uncertainty of the length.")
    u_width_m: float | None = None
    u_height_m: float | None = None
    coverage: float | None = Field(None, description="k: over when value - k u > limit.")
    states: dict[str, str] = Field(
        default_factory=dict, description="Per dimension: over, within or uncertain (its limit +/- k u)."
    )
    limits_m: dict[str, float] = Field(default_factory=dict, description="The oversize limits applied.")
    source: str | None = Field(None, description="The legal source of the limits.")
    oversize: bool | None = Field(None, description="At least one dimension over beyond its uncertainty.")
    uncertain_rule: str | None = Field(None, description="The site's rule for an uncertain dimension.")
    scans: dict[str, int] = Field(default_factory=dict, description="Scans of each scanner used.")
    points: int | None = None
    rejected: int | None = Field(None, description="Echoes the outlier tests rejected.")
    speed_correction: float | None = Field(
        None,
        description="With a speed scanner (outline.scanners speed_pair): the relative error e of the WIM speed"
        " profile found by combining the pair's with the profile's own (the profile was divided by 1 + e).",
    )
    u_speed_rel: float | None = Field(
        None,
        description="Relative 1-sigma uncertainty of the speed behind the length (with a speed scanner).",
    )


class RecordRegistry(_Part):
    """The vehicle registry's (plate -> registered layout and dimensions) facts about the plate read."""

    plate: str
    axle_count: int | None = Field(None, description="Registered number of axles.")
    axle_groups: list[int] | None = Field(None, description="Registered axle groups (1 single, 2 tandem...).")
    length_m: float | None = None
    width_m: float | None = None
    height_m: float | None = None
    status: str = Field(
        description="matches, modified (非法改装: outside the GB 21861 tolerance), or not_checked."
    )
    problems: list[str] = Field(
        default_factory=list, description="Each names the registered field that failed."
    )
    tolerance: str = Field(description="The tolerance applied and its source.")
    drive_air_suspension: bool | None = Field(
        None, description="Registered: drive axle(s) on air suspension (used by the judgement when set)."
    )
    articulated: bool | None = Field(None, description="Registered: tractor + semi-trailer (when set).")
    registered_gross_kg: int | None = Field(
        None, description="Registered gross, 行驶证总质量 (kg, when set)."
    )


class RecordWatchMatch(_Part):
    """A watch-list (严重失信超限超载) entry that the plate matched."""

    plate: str = Field(description="The watch-list's plate.")
    reason: str
    exact: bool = Field(description="True: the plate as read; false: one of the reader's alternatives.")
    alert_id: str = Field(description="The alert's id (UUID), as published on the alert topic.")
    alert_sent: bool = Field(description="Whether the alert reached the broker before this record.")


class RecordStaticCheat(_Part):
    """One anti-cheating check that fired during a static weighing."""

    check: str = Field(
        description="remote_control, zero_not_returned, deck_intrusion, plate_mismatch or low_tare."
    )
    detail: str = Field(description="What was seen, with the figures.")


class RecordStatic(_Part):
    """A static weighbridge's weighing (site kind static_weighbridge): the visit it belongs to, the
    pass, the weights and who is responsible for the load (一超四罚)."""

    visit_id: str = Field(description="UUID of the truck's visit; every weighing of the visit carries it.")
    pass_kind: Literal["tare", "gross", "single"] = Field(
        description="tare, gross or single (one pass: the gross, net from a stored tare)."
    )
    gross_kg: float | None = None
    tare_kg: float | None = None
    net_kg: float | None = None
    tare_source: Literal["weighed", "stored"] | None = Field(
        None, description="weighed (this visit), stored (per plate) or null."
    )
    previous_record_id: str | None = Field(None, description="The visit's previous weighing, if any.")
    attempt: int = Field(1, description="1 for the first weighing of its pass kind; +1 per re-weighing.")
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    cargo: str | None = None
    waybill: str | None = None
    carrier: str | None = None
    driver: str | None = None
    card_id: str | None = Field(
        None, description="The RFID/IC card read at the entry, when the site has one."
    )
    entry_plate: str | None = Field(None, description="The plate the entry camera read.")
    exit_plate: str | None = Field(None, description="The plate the exit camera read.")
    cheating: list[RecordStaticCheat] = Field(default_factory=list)
    refused_reading: str | None = Field(
        None, description="Why no weight was taken (stale, motion, off_deck, ...), when none was."
    )
    axle_source: Literal["sensor", "config", "registry", "default"] | None = Field(
        None,
        description="Who gave the axle count the limit used: sensor (the axle sensor at the deck entry),"
        " config (weighbridge.vehicles), registry (central's vehicle registry) or default"
        " (weighbridge.default_axles).",
    )


class Software(_Part):
    name: str = "weighlane-edge"
    version: str

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.add("name")  # the default name belongs in the signed JSON too


class EvidenceRecord(_Part):
    """One vehicle's record.  ``seq`` and ``chain`` are set by the store."""

    schema_: str = Field(RECORD_SCHEMA, alias="schema", description="Record schema and version.")
    id: str = Field(description="UUID of the record.")
    site_id: str
    lane: int
    vehicle_number: int = Field(description="Vehicle count of this daemon run.")
    time_utc: str | None = Field(description="When the last axle left the scale.")
    plate: str | None = Field(None, description="The plate, when read validly; else null.")
    axle_count: int
    tyres: list[str] | None = None
    vehicle_class: str | None = None
    body: str | None = None
    axle_groups: list[int] | None = None
    wim: RecordWim | None = None
    limit: RecordLimit | None = None
    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    lane_output: dict[str, str] = Field(default_factory=dict, description="What each output device did.")
    timing: RecordTiming | None = None
    devices: dict[str, Any] = Field(default_factory=dict, description="Each device's health at the verdict.")
    calibration: RecordCalibration | None = None
    software: Software
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    plate_reading: dict[str, Any] | None = None
    permit: RecordPermit | None = Field(None, description="The permit of the plate, when it has one.")
    watchlist: list[RecordWatchMatch] | None = Field(None, description="Watch-list matches, when any.")
    outline: RecordOutline | None = Field(None, description="Outline dimensions, on a lane with a gantry.")
    curtain_max_height_mm: int | None = Field(
        None, description="The light curtain's highest blocked beam (mm), when the curtain reports it."
    )
    registry: RecordRegistry | None = Field(None, description="The registry's facts about the plate.")
    axle_limits: list[RecordAxleGroup] | None = Field(
        None, description="Each axle group's limit and load (GB 1589-2016), when the table has axle rows."
    )
    vehicle_facts: dict[str, Any] | None = Field(
        None,
        description="What the rules assumed that WIM cannot measure (air suspension...), and from where.",
    )
    static: RecordStatic | None = Field(None, description="A static weighbridge's weighing, when it is one.")
    seq: int | None = Field(None, description="Per-site sequence number, set by the store.")
    chain: dict[str, Any] | None = Field(None, description="Hash chain and signature, set by the store.")

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    def model_post_init(self, context: Any, /) -> None:
        # Sections a record was made without (the fallback record has no wim, limit or timing) stay out
        # of its JSON; the schema is always in it.
        self.__pydantic_fields_set__.add("schema_")

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form the store signs: the fields that were given, by their JSON names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> EvidenceRecord:
        return cls.model_validate(data)

    @property
    def gross_kg(self) -> float | None:
        return None if self.wim is None else self.wim.gross_kg

    def live_result(self) -> dict[str, Any]:
        """The part a raw capture keeps as ``live_result`` (what ``edge wim replay`` compares with)."""
        wim = self.wim or RecordWim()
        return {
            "record_id": self.id,
            "time_utc": self.time_utc,
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "vehicle_class": self.vehicle_class,
            "limit_kg": None if self.limit is None else self.limit.limit_kg,
            "gross_kg": wim.gross_kg,
            "axle_loads_kg": wim.axle_loads_kg if self.wim is not None else None,
            "axle_spacings_m": wim.axle_spacings_m if self.wim is not None else None,
            "speed_kmh": wim.speed_kmh,
            "correction_factor": None
            if self.calibration is None
            else self.calibration.dynamic_correction_factor,
        }
