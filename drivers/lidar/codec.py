"""CoLa B codec of SICK LMS5xx-class scanners: ``LMDscandata`` scans and plain commands.

A CoLa B telegram is ``02 02 02 02``, a 4-byte big-endian payload length, the payload, and one byte that is
the XOR of every payload byte.  The payload starts with the ASCII command type and name, each followed by a
space (``sSN LMDscandata ``), then binary fields, big-endian.  The scan fields follow SICK's telegram listing
for the LMS1xx/5xx ``LMDscandata`` answer; see docs/protocols/lidar.md for the table.

The decoder is pure (bytes in, telegrams out), accepts any chunking, never raises on bad input and counts
it.  After garbage, a bad checksum or an impossible length it drops one byte and searches for the next
``02 02 02 02``, so a good telegram right after line noise is still received.  The simulator in
:mod:`firmware_sim.lidar` encodes with the same codec.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import reduce
from operator import xor

import numpy as np
import numpy.typing as npt

from drivers.errors import FrameError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "START_SCANS",
    "STOP_SCANS",
    "ColaACodec",
    "ColaBCodec",
    "ColaCommand",
    "ColaStats",
    "ScanTelegram",
    "xor_checksum",
]

STX = b"\x02\x02\x02\x02"
#: An LMS5xx scan of 1,141 beams with RSSI is under 5 kB; anything claiming more than this is garbage.
MAX_PAYLOAD_BYTES = 65536
_LENGTH = struct.Struct(">I")
# version, device number, serial, device status, telegram counter, scan counter, time since start-up (us),
# time of transmission (us), input status, output status, reserved byte A, scan frequency (1/100 Hz),
# measurement frequency (100 Hz)
_HEADER = struct.Struct(">HHIHHHIIHHHII")
# scale factor, scale offset (IEEE float), start angle (1/10000 deg), angular step (1/10000 deg), count
_CHANNEL = struct.Struct(">ffiHH")
_U16 = struct.Struct(">H")
_SCAN_NAME = "LMDscandata"
_SCAN_TYPES = ("sSN", "sRA")


def xor_checksum(payload: bytes) -> int:
    """CoLa B checksum: the XOR of every payload byte (not the STX or length bytes)."""
    return reduce(xor, payload, 0)


@dataclass(frozen=True, eq=False)
class ScanTelegram:
    """One scan as the device sends it: raw 16-bit range values of the ``DIST1`` channel.

    Distance in mm of beam ``k`` is ``ranges[k] * scale_factor + scale_offset``; its angle is
    ``start_angle_udeg + k * angular_step_udeg`` in 1/10000 degree, in the scanner's own frame (90 deg
    straight ahead on an LMS5xx).  A range of 0 means no echo.
    """

    scan_counter: int
    time_since_startup_us: int
    start_angle_udeg: int
    angular_step_udeg: int
    ranges: npt.NDArray[np.uint16]
    scale_factor: float = 1.0
    scale_offset: float = 0.0
    telegram_counter: int = 0
    time_of_transmission_us: int = 0
    scan_frequency_centi_hz: int = 10000
    measurement_frequency_hecto_hz: int = 0
    serial_number: int = 0
    device_number: int = 1
    device_status: int = 0
    version: int = 1
    command_type: str = "sSN"

    @property
    def start_angle_deg(self) -> float:
        return self.start_angle_udeg / 10000.0

    @property
    def angular_step_deg(self) -> float:
        return self.angular_step_udeg / 10000.0

    def ranges_mm(self) -> npt.NDArray[np.float64]:
        """Distances in mm; beams without an echo are 0."""
        raw = self.ranges.astype(np.float64)
        out: npt.NDArray[np.float64] = np.where(raw > 0, raw * self.scale_factor + self.scale_offset, 0.0)
        return out

    def angles_deg(self) -> npt.NDArray[np.float64]:
        k = np.arange(self.ranges.size, dtype=np.float64)
        out: npt.NDArray[np.float64] = (self.start_angle_udeg + k * self.angular_step_udeg) / 10000.0
        return out

    def pack_payload(self) -> bytes:
        ranges = np.asarray(self.ranges)
        if ranges.ndim != 1 or ranges.size == 0 or ranges.size > 0xFFFF:
            raise ValueError("ranges must be a 1-D array of 1 to 65535 values")
        if ranges.min() < 0 or ranges.max() > 0xFFFF:
            raise ValueError("range values must fit 16 bits")
        if self.command_type not in _SCAN_TYPES:
            raise ValueError(f"a scan is sent as {' or '.join(_SCAN_TYPES)}, not {self.command_type!r}")
        header = _HEADER.pack(
            self.version,
            self.device_number,
            self.serial_number,
            self.device_status,
            self.telegram_counter & 0xFFFF,
            self.scan_counter & 0xFFFF,
            self.time_since_startup_us & 0xFFFFFFFF,
            self.time_of_transmission_us & 0xFFFFFFFF,
            0,
            0,
            0,
            self.scan_frequency_centi_hz,
            self.measurement_frequency_hecto_hz,
        )
        channel = (
            _U16.pack(0)  # no encoders
            + _U16.pack(1)  # one 16-bit channel
            + b"DIST1"
            + _CHANNEL.pack(
                self.scale_factor,
                self.scale_offset,
                self.start_angle_udeg,
                self.angular_step_udeg,
                ranges.size,
            )
            + np.ascontiguousarray(ranges, dtype=">u2").tobytes()
        )
        # no 8-bit channels, no position, no device name, no comment, no time, no event info
        trailer = _U16.pack(0) * 6
        return f"{self.command_type} {_SCAN_NAME} ".encode() + header + channel + trailer

    @classmethod
    def unpack_payload(cls, command_type: str, body: bytes) -> ScanTelegram:
        """Parse the binary part after ``sSN LMDscandata ``; raises ValueError or struct.error."""
        (
            version,
            device_number,
            serial,
            status,
            telegram_counter,
            scan_counter,
            since_start_us,
            transmission_us,
            _inputs,
            _outputs,
            _reserved,
            scan_freq,
            meas_freq,
        ) = _HEADER.unpack_from(body)
        pos = _HEADER.size
        (n_encoders,) = _U16.unpack_from(body, pos)
        pos += 2 + 6 * n_encoders  # each encoder: position uint32, speed uint16
        (n_channels,) = _U16.unpack_from(body, pos)
        pos += 2
        dist: ScanTelegram | None = None
        for _ in range(n_channels):
            content = body[pos : pos + 5]
            scale, offset, start, step, count = _CHANNEL.unpack_from(body, pos + 5)
            pos += 5 + _CHANNEL.size
            end = pos + 2 * count
            if end > len(body):
                raise ValueError("16-bit channel runs past the end of the telegram")
            if dist is None and content.startswith(b"DIST"):
                if count == 0 or step == 0 or not (np.isfinite(scale) and np.isfinite(offset)):
                    raise ValueError("distance channel without data, step or a finite scale")
                ranges = np.frombuffer(body[pos:end], dtype=">u2").astype(np.uint16)
                dist = cls(
                    scan_counter=scan_counter,
                    time_since_startup_us=since_start_us,
                    start_angle_udeg=start,
                    angular_step_udeg=step,
                    ranges=ranges,
                    scale_factor=scale,
                    scale_offset=offset,
                    telegram_counter=telegram_counter,
                    time_of_transmission_us=transmission_us,
                    scan_frequency_centi_hz=scan_freq,
                    measurement_frequency_hecto_hz=meas_freq,
                    serial_number=serial,
                    device_number=device_number,
                    device_status=status,
                    version=version,
                    command_type=command_type,
                )
            pos = end
        if dist is None:
            raise ValueError("scan without a DIST channel")
        return dist


@dataclass(frozen=True)
class ColaCommand:
    """Any other telegram: a request such as ``sEN LMDscandata`` + ``01`` or its answer ``sEA``."""

    command_type: str
    name: str
    args: bytes = b""

    def pack_payload(self) -> bytes:
        if len(self.command_type) != 3 or " " in self.name or not self.name:
            raise ValueError("command type must be 3 letters and the name one word")
        return f"{self.command_type} {self.name}".encode("ascii") + (b" " + self.args if self.args else b"")


@dataclass
class ColaStats:
    """Counters a technician reads to judge the link (same keys as the lane-bus codecs where they mean
    the same)."""

    frames_ok: int = 0
    bad_crc: int = 0  # XOR checksum mismatch
    oversize: int = 0  # length field beyond MAX_PAYLOAD_BYTES
    bad_length: int = 0  # checksum right but fields do not parse
    bytes_discarded: int = 0

    @property
    def frames_bad(self) -> int:
        return self.bad_crc + self.oversize + self.bad_length

    def as_dict(self) -> dict[str, int]:
        return {
            "frames_ok": self.frames_ok,
            "frames_bad": self.frames_bad,
            "bad_crc": self.bad_crc,
            "oversize": self.oversize,
            "bad_length": self.bad_length,
            "bytes_discarded": self.bytes_discarded,
        }


def _parse_payload(payload: bytes) -> ScanTelegram | ColaCommand:
    first = payload.find(b" ")
    if first != 3:
        raise ValueError("payload does not start with a 3-letter command type")
    command_type = payload[:3].decode("ascii")
    second = payload.find(b" ", 4)
    name = payload[4:] if second < 0 else payload[4:second]
    rest = b"" if second < 0 else payload[second + 1 :]
    name_text = name.decode("ascii")
    if name_text == _SCAN_NAME and command_type in _SCAN_TYPES:
        return ScanTelegram.unpack_payload(command_type, rest)
    return ColaCommand(command_type, name_text, rest)


@dataclass
class ColaBCodec:
    """Pure CoLa B codec: ``feed`` bytes to get telegrams, ``encode`` a telegram to get bytes."""

    stats: ColaStats = field(default_factory=ColaStats)
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[ScanTelegram | ColaCommand]:
        self._buffer += data
        out: list[ScanTelegram | ColaCommand] = []
        buf = self._buffer
        while True:
            start = buf.find(STX)
            if start < 0:
                # keep a tail that may be the beginning of the next STX
                keep = 0
                while keep < 3 and keep < len(buf) and buf[len(buf) - 1 - keep] == 0x02:
                    keep += 1
                self.stats.bytes_discarded += len(buf) - keep
                del buf[: len(buf) - keep]
                return out
            if start:
                self.stats.bytes_discarded += start
                del buf[:start]
            if len(buf) < 8:
                return out
            (length,) = _LENGTH.unpack_from(buf, 4)
            if length == 0 or length > MAX_PAYLOAD_BYTES:
                self.stats.oversize += 1
                self.stats.bytes_discarded += 1
                del buf[:1]
                continue
            if len(buf) < 9 + length:
                return out
            payload = bytes(buf[8 : 8 + length])
            if xor_checksum(payload) != buf[8 + length]:
                self.stats.bad_crc += 1
                self.stats.bytes_discarded += 1
                del buf[:1]  # the length may be what was corrupted: resynchronise byte by byte
                continue
            del buf[: 9 + length]
            try:
                out.append(_parse_payload(payload))
            except (struct.error, ValueError, UnicodeDecodeError):
                self.stats.bad_length += 1
                self.stats.bytes_discarded += 9 + length
                continue
            self.stats.frames_ok += 1

    def encode(self, message: ScanTelegram | ColaCommand) -> bytes:
        try:
            payload = message.pack_payload()
        except (struct.error, ValueError, OverflowError, TypeError, UnicodeEncodeError) as exc:
            raise FrameError(f"{type(message).__name__} cannot be encoded: {exc}") from exc
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise FrameError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        return STX + _LENGTH.pack(len(payload)) + payload + bytes([xor_checksum(payload)])


#: The request that starts a scanner's continuous scan output, and its answer.
START_SCANS = ColaCommand("sEN", "LMDscandata", b"\x01")
STOP_SCANS = ColaCommand("sEN", "LMDscandata", b"\x00")


# --- CoLa A: the same telegrams in ASCII --------------------------------------------------------------

_ETX = 0x03
_STX_A = 0x02
#: A CoLa A scan of 1,141 values is under 6 kB; longer runs between STX and ETX are garbage.
MAX_COLA_A_BYTES = 16384


def _hex_i32(token: bytes) -> int:
    value = int(token, 16)
    if value >= 1 << 31:
        value -= 1 << 32  # negative angles are sent as two's complement
    return value


def _hex_f32(token: bytes) -> float:
    (value,) = struct.unpack(">f", int(token, 16).to_bytes(4, "big"))
    return float(value)


def _parse_cola_a(payload: bytes) -> ScanTelegram | ColaCommand:
    tokens = payload.split(b" ")
    if len(tokens) < 2 or len(tokens[0]) != 3:
        raise ValueError("payload does not start with a 3-letter command type")
    command_type, name = tokens[0].decode("ascii"), tokens[1].decode("ascii")
    if name != _SCAN_NAME or command_type not in _SCAN_TYPES:
        return ColaCommand(command_type, name, b" ".join(tokens[2:]))
    f = tokens[2:]
    # version device serial status(2) telegram scan t_start t_tx inputs(2) outputs(2) reserved
    # scan_freq meas_freq n_encoders ...
    h = [int(t, 16) for t in f[:17]]
    pos = 17 + 2 * h[16]
    n_channels = int(f[pos], 16)
    pos += 1
    for _ in range(n_channels):
        content = f[pos]
        scale, offset = _hex_f32(f[pos + 1]), _hex_f32(f[pos + 2])
        start, step, count = _hex_i32(f[pos + 3]), int(f[pos + 4], 16), int(f[pos + 5], 16)
        values = f[pos + 6 : pos + 6 + count]
        if len(values) != count:
            raise ValueError("16-bit channel runs past the end of the telegram")
        if content.startswith(b"DIST"):
            if count == 0 or step == 0:
                raise ValueError("distance channel without data or step")
            return ScanTelegram(
                scan_counter=h[6],
                time_since_startup_us=h[7],
                start_angle_udeg=start,
                angular_step_udeg=step,
                ranges=np.array([int(v, 16) for v in values], dtype=np.uint16),
                scale_factor=scale,
                scale_offset=offset,
                telegram_counter=h[5],
                time_of_transmission_us=h[8],
                scan_frequency_centi_hz=h[14],
                measurement_frequency_hecto_hz=h[15],
                serial_number=h[2],
                device_number=h[1],
                device_status=(h[3] << 8) | h[4],
                version=h[0],
                command_type=command_type,
            )
        pos += 6 + count
    raise ValueError("scan without a DIST channel")


def _cola_a_scan(scan: ScanTelegram) -> bytes:
    if scan.ranges.ndim != 1 or scan.ranges.size == 0:
        raise ValueError("ranges must be a non-empty 1-D array")
    fields = [
        scan.version,
        scan.device_number,
        scan.serial_number,
        scan.device_status >> 8,
        scan.device_status & 0xFF,
        scan.telegram_counter & 0xFFFF,
        scan.scan_counter & 0xFFFF,
        scan.time_since_startup_us & 0xFFFFFFFF,
        scan.time_of_transmission_us & 0xFFFFFFFF,
        0,
        0,
        0,
        0,
        0,
        scan.scan_frequency_centi_hz,
        scan.measurement_frequency_hecto_hz,
        0,
        1,
    ]
    head = " ".join(f"{v:X}" for v in fields)
    channel = " ".join(
        [
            "DIST1",
            struct.pack(">f", scan.scale_factor).hex().upper(),
            struct.pack(">f", scan.scale_offset).hex().upper(),
            f"{scan.start_angle_udeg & 0xFFFFFFFF:X}",
            f"{scan.angular_step_udeg:X}",
            f"{scan.ranges.size:X}",
            *(f"{int(v):X}" for v in scan.ranges),
        ]
    )
    return f"{scan.command_type} {_SCAN_NAME} {head} {channel} 0 0 0 0 0 0".encode("ascii")


@dataclass
class ColaACodec:
    """CoLa A (ASCII, port 2111): ``<STX>sSN LMDscandata 1 1 ...<ETX>``, numbers in hex, no checksum.

    Command arguments are encoded one hex token per byte and come back as the ASCII tokens (``b"1"``), not
    bytes: only scans are meant to travel this way; the driver speaks CoLa B."""

    stats: ColaStats = field(default_factory=ColaStats)
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[ScanTelegram | ColaCommand]:
        self._buffer += data
        out: list[ScanTelegram | ColaCommand] = []
        buf = self._buffer
        while True:
            start = buf.find(_STX_A)
            if start < 0:
                self.stats.bytes_discarded += len(buf)
                buf.clear()
                return out
            if start:
                self.stats.bytes_discarded += start
                del buf[:start]
            end = buf.find(_ETX, 1)
            restart = buf.find(_STX_A, 1)
            if 0 < restart < end or (end < 0 and restart > 0):
                self.stats.bytes_discarded += restart  # a telegram cut short by a new STX
                self.stats.bad_length += 1
                del buf[:restart]
                continue
            if end < 0:
                if len(buf) > MAX_COLA_A_BYTES:
                    self.stats.oversize += 1
                    self.stats.bytes_discarded += len(buf)
                    buf.clear()
                return out
            payload = bytes(buf[1:end])
            del buf[: end + 1]
            try:
                out.append(_parse_cola_a(payload))
            except (ValueError, IndexError, struct.error, UnicodeDecodeError, OverflowError):
                self.stats.bad_length += 1
                self.stats.bytes_discarded += len(payload) + 2
                continue
            self.stats.frames_ok += 1

    def encode(self, message: ScanTelegram | ColaCommand) -> bytes:
        try:
            if isinstance(message, ScanTelegram):
                payload = _cola_a_scan(message)
            else:
                args = " ".join(f"{b:X}" for b in message.args)
                payload = f"{message.command_type} {message.name}{' ' + args if args else ''}".encode("ascii")
        except (struct.error, ValueError, OverflowError, TypeError, UnicodeEncodeError) as exc:
            raise FrameError(f"{type(message).__name__} cannot be encoded: {exc}") from exc
        return bytes([_STX_A]) + payload + bytes([_ETX])
