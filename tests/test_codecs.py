"""Tests of the lane-bus framing and of the five device-family codecs.

Everything here is pure: bytes in, messages out (and back).  Every test is parametrised over the
families and, where it matters, over every message type of every family, so a new message class that
is not listed in ``SAMPLES`` fails :func:`test_samples_cover_every_message_type`.

The wire format these tests pin down is specified in docs/protocols/; the golden frames at the end of
the file are the example frames printed in those documents.

The encoder-refusal and truncated-body tests pin down defects found and fixed while the codecs were
written: out-of-range fields must raise FrameError on encode, and short bodies must be counted, not raise.
"""

from __future__ import annotations

import dataclasses
import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from drivers.axle_sensor import codec as axle
from drivers.barrier import codec as barrier
from drivers.display import codec as display
from drivers.errors import FrameError
from drivers.framing import MAX_BODY_BYTES, FrameDecoder, encode_frame
from drivers.messages import MessageCodec
from drivers.separator import codec as separator
from drivers.wim_digitiser import codec as wim

I32_MIN = int(np.iinfo(np.int32).min)
I32_MAX = int(np.iinfo(np.int32).max)
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

# --------------------------------------------------------------------------------------------------
# Sample messages: several of every message type of every family, including field extremes.
# --------------------------------------------------------------------------------------------------


def _counts(n_samples: int, n_channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.integers(I32_MIN, I32_MAX, size=(n_samples, n_channels), endpoint=True, dtype=np.int64)
    counts.flat[0] = I32_MIN
    counts.flat[-1] = I32_MAX
    if counts.size > 2:
        counts.flat[1] = -1
        counts.flat[2] = 0
    return counts.astype(np.int32)


_TEN_BY_FOUR = np.array([[12000 + 10 * s + c for c in range(4)] for s in range(10)], dtype=np.int32)
_TEN_BY_FOUR[:, 1] *= -1  # one channel with negative counts

SAMPLES: dict[str, tuple[Callable[[], MessageCodec[Any]], list[Any]]] = {
    "wim_digitiser": (
        wim.new_codec,
        [
            wim.SampleBlock(seq=2, first_sample_index=2000, sample_rate_hz=1000, counts=_TEN_BY_FOUR),
            wim.SampleBlock(
                seq=U32_MAX,
                first_sample_index=U64_MAX,
                sample_rate_hz=65535,
                counts=np.array([[I32_MIN, I32_MAX, -1], [0, 1, -2]], dtype=np.int32),
                flags=wim.SampleBlock.FLAG_ADC_OVERLOAD | wim.SampleBlock.FLAG_RESYNC,
            ),
            wim.SampleBlock(seq=0, first_sample_index=0, sample_rate_hz=1, counts=np.zeros((1, 1), np.int32)),
            wim.DigitiserStatus(seq=42, device_time_us=12_345_678, temperature_c=23.45, overload_mask=0b0100),
            wim.DigitiserStatus(
                seq=U32_MAX,
                device_time_us=U64_MAX,
                temperature_c=-327.68,
                flags=0xFFFF,
                overload_mask=U32_MAX,
            ),
            wim.DigitiserStatus(seq=0, device_time_us=0, temperature_c=327.67),
        ],
    ),
    "separator": (
        separator.new_codec,
        [
            separator.CurtainEvent(100, 5_000_000, separator.CurtainEvent.ENTER, 12, 3850),
            separator.CurtainEvent(U32_MAX, U64_MAX, separator.CurtainEvent.LEAVE, 255, 65535),
            separator.CurtainEvent(0, 0, separator.CurtainEvent.ENTER),
            separator.CurtainHeartbeat(101, 5_100_000, True),
            separator.CurtainHeartbeat(
                U32_MAX,
                U64_MAX,
                False,
                separator.CurtainHeartbeat.FAULT_DIRTY_LENS | separator.CurtainHeartbeat.FAULT_MISALIGNED,
            ),
        ],
    ),
    "axle_sensor": (
        axle.new_codec,
        [
            axle.AxleEvent(7, 5_250_000, axle.AxleEvent.STRIP_ENTRY, axle.AxleEvent.TYRE_SINGLE, 0, 315),
            axle.AxleEvent(8, 5_700_000, axle.AxleEvent.STRIP_EXIT, axle.AxleEvent.TYRE_DUAL),
            axle.AxleEvent(
                U32_MAX,
                U64_MAX,
                axle.AxleEvent.STRIP_EXIT,
                axle.AxleEvent.TYRE_WIDE_SINGLE,
                axle.AxleEvent.REVERSE,
                65535,
            ),
            axle.AxleHeartbeat(9, 5_300_000),
            axle.AxleHeartbeat(U32_MAX, U64_MAX, 0xFFFF),
        ],
    ),
    "display": (
        display.new_codec,
        [
            display.ShowText(3, display.ShowText.RED, ("OVERWEIGHT", "超载 请停车")),
            display.ShowText(1, display.ShowText.GREEN, ("WEIGH OK", "DRIVE ON", "一路平安", "")),
            display.ShowText(U32_MAX, display.ShowText.YELLOW, ()),
            display.ShowText(0, display.ShowText.RED, ("x" * 64, "超" * 21)),  # 64 and 63 UTF-8 bytes
            display.DisplayAck(3, display.DisplayAck.OK),
            display.DisplayAck(U32_MAX, 255),
            display.DisplayStatus(17, 60_000_000, zlib.crc32("OVERWEIGHT\n超载 请停车".encode()), 0),
            display.DisplayStatus(U32_MAX, U64_MAX, U32_MAX, display.DisplayStatus.FAULT_LED_MODULE),
        ],
    ),
    "barrier": (
        barrier.new_codec,
        [
            barrier.BarrierCommand(5, barrier.BarrierCommand.OPEN),
            barrier.BarrierCommand(U32_MAX, barrier.BarrierCommand.CLOSE),
            barrier.BarrierState(200, 61_500_000, 5, barrier.BarrierState.OPENING),
            barrier.BarrierState(0, 0, 0, barrier.BarrierState.CLOSED),
            barrier.BarrierState(1, 1, 1, barrier.BarrierState.OPEN),
            barrier.BarrierState(
                U32_MAX,
                U64_MAX,
                U32_MAX,
                barrier.BarrierState.CLOSING,
                barrier.BarrierState.FAULT_OBSTRUCTED | barrier.BarrierState.FAULT_MOTOR,
            ),
        ],
    ),
}

FAMILIES = sorted(SAMPLES)
CASES = [
    pytest.param(family, message, id=f"{family}-{type(message).__name__}-{i}")
    for family in FAMILIES
    for i, message in enumerate(SAMPLES[family][1])
]


def new_codec(family: str) -> MessageCodec[Any]:
    return SAMPLES[family][0]()


def sentinel(family: str) -> Any:
    """A good message of ``family`` that differs from every sample (used to prove recovery)."""
    return dataclasses.replace(SAMPLES[family][1][0], seq=0x5EED5EED)


def frame_of(family: str, message: Any) -> bytes:
    return new_codec(family).encode(message)


def body_of(message: Any) -> bytes:
    return bytes([type(message).TYPE]) + message.pack_fields()


def same(a: Any, b: Any) -> bool:
    """Field-by-field equality that also works for messages holding numpy arrays."""
    if type(a) is not type(b):
        return False
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (
                isinstance(x, np.ndarray)
                and isinstance(y, np.ndarray)
                and x.dtype == y.dtype
                and np.array_equal(x, y)
            ):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


def assert_same_list(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert same(g, e), (g, e)


def feed_chunked(codec: MessageCodec[Any], data: bytes, rng: random.Random, max_chunk: int = 64) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(data):
        size = rng.randint(0, max_chunk)  # zero-length reads happen too
        out += codec.feed(data[pos : pos + size])
        pos += size
    return out


def build_body(message_type: int, fmt: str, *values: Any) -> bytes:
    return bytes([message_type]) + struct.pack(fmt, *values)


# --------------------------------------------------------------------------------------------------
# Independent reference implementations of the documented framing (docs/protocols/framing.md).
# --------------------------------------------------------------------------------------------------


def ref_crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC bit by bit: poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def ref_cobs_encode(data: bytes) -> bytes:
    """COBS as specified: a code byte n (1..255) is followed by n-1 data bytes; n < 255 implies a zero.

    A full block (code 0xFF) at the very end of the data is not followed by a further code byte.
    """
    out = bytearray([0])
    code_pos: int | None = 0
    code = 1
    for i, byte in enumerate(data):
        if byte:
            out.append(byte)
            code += 1
        if not byte or code == 0xFF:
            assert code_pos is not None
            out[code_pos] = code
            code = 1
            if not byte or i < len(data) - 1:
                code_pos = len(out)
                out.append(0)
            else:
                code_pos = None
    if code_pos is not None:
        out[code_pos] = code
    return bytes(out)


def ref_frame(body: bytes) -> bytes:
    return b"\x00" + ref_cobs_encode(body + ref_crc32(body).to_bytes(4, "little")) + b"\x00"


def test_crc32_parameters_match_the_documented_check_value() -> None:
    assert ref_crc32(b"123456789") == 0xCBF43926 == zlib.crc32(b"123456789")
    rng = random.Random(1)
    for _ in range(50):
        data = rng.randbytes(rng.randint(0, 100))
        assert ref_crc32(data) == zlib.crc32(data)


@pytest.mark.parametrize(
    "body",
    [
        b"\x40",
        b"\x00",
        b"\x00\x00\x00",
        b"\x11\x22\x00\x33",
        bytes(range(1, 251)),  # body + CRC crosses the 254-byte block boundary
        b"\x01" * 250,  # body + CRC may end exactly on a full block
        b"\x01" * 254,
        b"\x01" * 255,
        b"\x01" * 600,
        b"\x00" * 600,
        bytes(range(256)) * 3,
    ],
    ids=lambda b: f"{len(b)}B",
)
def test_encode_frame_matches_the_reference_framing(body: bytes) -> None:
    frame = encode_frame(body)
    assert frame == ref_frame(body)
    assert frame[0] == 0 and frame[-1] == 0 and 0 not in frame[1:-1]
    decoder = FrameDecoder()
    assert decoder.feed(frame) == [body]
    assert decoder.stats.frames_ok == 1 and decoder.stats.frames_bad == 0


def test_reference_cobs_of_a_full_block_at_the_end_is_also_accepted_with_a_trailing_code() -> None:
    """Some COBS encoders append 0x01 after a final 0xFF block; receivers accept that variant too."""
    for body in (b"\x01" * 250, b"\x02" * 504):
        payload = body + zlib.crc32(body).to_bytes(4, "little")
        assert len(payload) % 254 == 0
        variant = b"\x00" + ref_cobs_encode(payload) + b"\x01\x00"
        assert FrameDecoder().feed(variant) == [body]


@pytest.mark.parametrize("chunk", [1, 7, 4096, 10_000])
def test_largest_body_is_accepted_and_one_byte_more_is_refused(chunk: int) -> None:
    body = (bytes(range(1, 256)) * 17)[:MAX_BODY_BYTES]  # no zero bytes: worst-case COBS overhead
    assert len(body) == MAX_BODY_BYTES
    frame = encode_frame(body)
    decoder = FrameDecoder()
    got: list[bytes] = []
    for pos in range(0, len(frame), chunk):
        got += decoder.feed(frame[pos : pos + chunk])
    assert got == [body]
    assert decoder.stats.frames_bad == 0
    with pytest.raises(ValueError):
        encode_frame(body + b"\x01")
    # A sender that ignores the limit anyway: CRC is valid, the decoder still drops the frame.
    too_big = ref_frame(body + b"\x01")
    decoder = FrameDecoder()
    got = []
    for pos in range(0, len(too_big), chunk):
        got += decoder.feed(too_big[pos : pos + chunk])
    got += decoder.feed(encode_frame(b"\x40ok"))
    assert got == [b"\x40ok"]
    assert decoder.stats.oversize == 1
    assert decoder.stats.bytes_discarded >= len(too_big) - 1


# --------------------------------------------------------------------------------------------------
# Round trips and chunking.
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_samples_cover_every_message_type(family: str) -> None:
    codec = new_codec(family)
    assert {type(m) for m in SAMPLES[family][1]} == set(codec.message_types)


@pytest.mark.parametrize(("family", "message"), CASES)
def test_round_trip(family: str, message: Any) -> None:
    codec = new_codec(family)
    frame = codec.encode(message)
    assert frame == ref_frame(body_of(message))
    assert_same_list(codec.feed(frame), [message])
    assert codec.stats.frames_ok == 1
    assert codec.stats.frames_bad == 0
    assert codec.stats.bytes_discarded == 0


@pytest.mark.parametrize(("family", "message"), CASES)
def test_idle_fill_between_frames_is_not_an_error(family: str, message: Any) -> None:
    codec = new_codec(family)
    frame = codec.encode(message)
    got = codec.feed(b"\x00" * 5 + frame + frame + b"\x00" * 3 + frame + b"\x00")
    assert_same_list(got, [message] * 3)
    assert codec.stats.frames_bad == 0 and codec.stats.bytes_discarded == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_stream_fed_byte_by_byte(family: str) -> None:
    codec = new_codec(family)
    messages = SAMPLES[family][1]
    stream = b"".join(codec.encode(m) for m in messages)
    got: list[Any] = []
    for i in range(len(stream)):
        got += codec.feed(stream[i : i + 1])
    assert_same_list(got, messages)
    assert codec.stats.frames_bad == 0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("family", FAMILIES)
def test_stream_fed_in_random_chunks(family: str, seed: int) -> None:
    rng = random.Random(seed)
    codec = new_codec(family)
    messages = [rng.choice(SAMPLES[family][1]) for _ in range(40)]
    stream = b"".join(codec.encode(m) for m in messages)
    got = feed_chunked(codec, stream, rng, max_chunk=rng.choice([3, 17, 64, 300]))
    assert_same_list(got, messages)
    assert codec.stats.frames_ok == len(messages)
    assert codec.stats.frames_bad == 0


@pytest.mark.parametrize(("family", "message"), CASES)
def test_every_split_point_of_two_frames(family: str, message: Any) -> None:
    other = sentinel(family)
    stream = frame_of(family, message) + frame_of(family, other)
    for cut in range(len(stream) + 1):
        codec = new_codec(family)
        got = codec.feed(stream[:cut]) + codec.feed(stream[cut:])
        assert_same_list(got, [message, other])
        assert codec.stats.frames_bad == 0


# --------------------------------------------------------------------------------------------------
# Garbage, truncation, corruption, oversize.
# --------------------------------------------------------------------------------------------------


def _garbage(rng: random.Random, good_frames: list[bytes]) -> bytes:
    """Line noise: random bytes with zeros, runs without zeros, and things that look like frame starts."""
    kind = rng.randrange(5)
    if kind == 0:  # random bytes, zeros included
        return rng.randbytes(rng.randint(1, 80))
    if kind == 1:  # a run without any delimiter
        return bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 80)))
    frame = rng.choice(good_frames)
    if kind == 2:  # a frame start cut short: delimiter plus a prefix of a real frame
        return frame[: rng.randint(2, len(frame) - 2)]
    if kind == 3:  # a real frame with one byte changed (never to zero)
        body = bytearray(frame[1:-1])
        i = rng.randrange(len(body))
        body[i] = (body[i] + rng.randint(1, 254)) % 256 or 1
        return b"\x00" + bytes(body) + b"\x00"
    # a real frame without its first code byte (shifted framing)
    return b"\x00" + frame[2:]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("family", FAMILIES)
def test_garbage_before_between_and_after_frames(family: str, seed: int) -> None:
    rng = random.Random(1000 + seed)
    codec = new_codec(family)
    messages = [rng.choice(SAMPLES[family][1]) for _ in range(12)] + [sentinel(family)]
    frames = [codec.encode(m) for m in messages]
    stream = bytearray()
    nonzero_garbage = 0
    noisy_gaps = 0
    for frame in frames:
        noise = b"\x5a" + _garbage(rng, frames) if not stream else _garbage(rng, frames)
        noise += _garbage(rng, frames) if rng.random() < 0.5 else b""
        stream += noise
        nonzero_garbage += sum(1 for b in noise if b)
        noisy_gaps += any(noise)
        stream += frame
    stream += _garbage(rng, frames)  # trailing noise, never terminated: stays pending, never decoded
    got = feed_chunked(codec, bytes(stream), rng, max_chunk=rng.choice([1, 5, 50, 1000]))
    assert_same_list(got, messages)
    assert codec.stats.frames_bad >= noisy_gaps > 0
    assert codec.stats.bytes_discarded >= nonzero_garbage > 0
    assert codec.stats.frames_ok >= len(messages)


@pytest.mark.parametrize(("family", "message"), CASES)
def test_truncated_frame_is_dropped_and_the_next_frame_decodes(family: str, message: Any) -> None:
    frame = frame_of(family, message)
    good = sentinel(family)
    good_frame = frame_of(family, good)
    for cut in range(len(frame) + 1):
        for split in (False, True):
            codec = new_codec(family)
            stream = frame[:cut] + good_frame
            got = codec.feed(frame[:cut]) + codec.feed(good_frame) if split else codec.feed(stream)
            if cut >= len(frame) - 1:
                # Only the trailing delimiter is missing: the next frame's leading one ends it.
                assert_same_list(got, [message, good])
                assert codec.stats.frames_bad == 0
            elif cut <= 1:
                assert_same_list(got, [good])  # nothing or a lone delimiter (idle fill)
                assert codec.stats.frames_bad == 0
            else:
                assert_same_list(got, [good])
                assert codec.stats.frames_bad == 1
                assert codec.stats.bad_cobs + codec.stats.bad_crc == 1
                assert codec.stats.bytes_discarded == cut  # cut-1 encoded bytes + their delimiter


@pytest.mark.parametrize(("family", "message"), CASES)
def test_every_single_bit_flip_is_rejected_and_counted(family: str, message: Any) -> None:
    frame = frame_of(family, message)
    good = sentinel(family)
    good_frame = frame_of(family, good)
    for bit in range(8 * len(frame)):
        corrupted = bytearray(frame)
        corrupted[bit // 8] ^= 1 << (bit % 8)
        codec = new_codec(family)
        got = codec.feed(bytes(corrupted) + good_frame)
        # Never a wrong message: a flip may only cost the frame, never change what it says.
        for m in got:
            assert same(m, good) or same(m, message), (bit, m)
        # In fact the corrupted frame never survives, and its loss is always counted.
        assert_same_list(got, [good])
        assert codec.stats.frames_bad >= 1, bit
        assert codec.stats.bytes_discarded > 0, bit


@pytest.mark.parametrize("size", [5001, 12_345])
@pytest.mark.parametrize("family", FAMILIES)
def test_oversize_run_without_delimiter_is_discarded_and_decoding_recovers(family: str, size: int) -> None:
    rng = random.Random(size)
    first, second = SAMPLES[family][1][0], sentinel(family)
    run = bytes(rng.randint(1, 255) for _ in range(size))
    stream = frame_of(family, first) + run + frame_of(family, second)
    for max_chunk in (1, 64, 1024):
        codec = new_codec(family)
        got = feed_chunked(codec, stream, random.Random(max_chunk), max_chunk=max_chunk)
        assert_same_list(got, [first, second])
        assert codec.stats.oversize == 1
        assert codec.stats.frames_bad == 1
        assert codec.stats.bytes_discarded == size + 1  # the run and the delimiter that ended it
    # Fed in one read the run is still dropped whole (it is counted as a CRC failure then).
    codec = new_codec(family)
    assert_same_list(codec.feed(stream), [first, second])
    assert codec.stats.frames_bad == 1
    assert codec.stats.bytes_discarded == size + 1


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_message_type_with_valid_crc_is_counted(family: str) -> None:
    codec = new_codec(family)
    known = {cls.TYPE for cls in codec.message_types}
    good = sentinel(family)
    unknown = [t for t in range(256) if t not in known]
    for n, message_type in enumerate(unknown, start=1):
        body = bytes([message_type]) + bytes(range(1, 1 + n % 40))
        got = codec.feed(encode_frame(body) + codec.encode(good))
        assert_same_list(got, [good])
        assert codec.stats.unknown_type == n
    assert codec.stats.frames_bad == len(unknown)
    assert codec.stats.bad_length == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_frames_of_other_families_are_unknown_types(family: str) -> None:
    codec = new_codec(family)
    foreign = [m for f in FAMILIES if f != family for m in SAMPLES[f][1]]
    assert codec.feed(b"".join(frame_of(f, m) for f in FAMILIES if f != family for m in SAMPLES[f][1])) == []
    assert codec.stats.unknown_type == len(foreign)
    assert codec.stats.frames_bad == len(foreign)


@pytest.mark.parametrize(("family", "message"), CASES)
def test_valid_crc_body_too_long_is_bad_length(family: str, message: Any) -> None:
    good = sentinel(family)
    body = body_of(message)
    for extra in (b"\x00", b"\x01", b"\xaa\xbb\xcc\xdd", b"\x00" * 50):
        codec = new_codec(family)
        got = codec.feed(encode_frame(body + extra) + codec.encode(good))
        assert_same_list(got, [good])
        assert codec.stats.bad_length == 1
        assert codec.stats.frames_bad == 1


TRUNCATION_CASES = CASES


@pytest.mark.parametrize(("family", "message"), TRUNCATION_CASES)
def test_valid_crc_body_too_short_is_bad_length(family: str, message: Any) -> None:
    good = sentinel(family)
    body = body_of(message)
    for keep in range(1, len(body)):
        codec = new_codec(family)
        got = codec.feed(encode_frame(body[:keep]) + codec.encode(good))
        assert_same_list(got, [good])
        assert codec.stats.bad_length == 1, keep
        assert codec.stats.frames_bad == 1


_BAD_FIELD_BODIES = [
    ("separator", build_body(0x10, "<IQBBH", 1, 2, 0, 0, 0), "curtain kind 0"),
    ("separator", build_body(0x10, "<IQBBH", 1, 2, 3, 0, 0), "curtain kind 3"),
    ("axle_sensor", build_body(0x20, "<IQBBBH", 1, 2, 9, 1, 0, 0), "strip 9 (beyond 7 intermediate strips)"),
    ("axle_sensor", build_body(0x20, "<IQBBBH", 1, 2, 0, 0, 0, 0), "tyre 0"),
    ("axle_sensor", build_body(0x20, "<IQBBBH", 1, 2, 0, 4, 0, 0), "tyre 4"),
    ("axle_sensor", build_body(0x20, "<IQBBBH", 1, 2, 0, 1, 2, 0), "direction 2"),
    ("display", build_body(0x30, "<IBB", 1, 3, 0), "colour 3"),
    ("display", build_body(0x30, "<IBB", 1, 0, 5) + b"\x01a" * 5, "five lines"),
    ("display", build_body(0x30, "<IBBB", 1, 0, 1, 2) + b"\xe8\xb6", "invalid UTF-8"),
    ("display", build_body(0x30, "<IBBB", 1, 0, 1, 5) + b"abc", "line runs past the frame"),
    ("barrier", build_body(0x40, "<IB", 1, 0), "action 0"),
    ("barrier", build_body(0x40, "<IB", 1, 3), "action 3"),
    ("barrier", build_body(0x41, "<IQIBH", 1, 2, 3, 4, 0), "position 4"),
    ("wim_digitiser", build_body(0x01, "<IQHBBH", 1, 0, 0, 1, 1, 0) + b"\x00" * 4, "rate 0"),
    ("wim_digitiser", build_body(0x01, "<IQHBBH", 1, 0, 1000, 0, 1, 0), "no channels"),
    ("wim_digitiser", build_body(0x01, "<IQHBBH", 1, 0, 1000, 4, 0, 0), "no samples"),
    ("wim_digitiser", build_body(0x01, "<IQHBB", 1, 0, 1000, 4, 10), "header cut short"),
]


@pytest.mark.parametrize(
    ("family", "body"), [pytest.param(f, b, id=f"{f}-{why}") for f, b, why in _BAD_FIELD_BODIES]
)
def test_valid_crc_body_with_field_outside_its_enumeration_is_bad_length(family: str, body: bytes) -> None:
    codec = new_codec(family)
    good = sentinel(family)
    assert_same_list(codec.feed(encode_frame(body) + codec.encode(good)), [good])
    assert codec.stats.bad_length == 1
    assert codec.stats.frames_bad == 1


# --------------------------------------------------------------------------------------------------
# The decoder never raises.
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_decoder_never_raises_on_random_input(family: str) -> None:
    rng = random.Random(f"random-{family}")
    codec = new_codec(family)
    for i in range(3000):
        zero_share = rng.choice([0.0, 0.01, 0.1, 0.5])
        length = rng.randint(0, 120)
        buffer = bytes(0 if rng.random() < zero_share else rng.randint(1, 255) for _ in range(length))
        target = codec if i % 2 else new_codec(family)
        for m in target.feed(buffer):  # a 2**-32 chance per chunk; seeded, so deterministic
            assert isinstance(m, codec.message_types)
    good = sentinel(family)
    assert_same_list(codec.feed(codec.encode(good)), [good])  # and it recovers
    assert codec.stats.frames_bad > 0


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(buf) + 1)
        if op == 0 and i < len(buf):
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and i < len(buf):
            buf[i] = rng.randrange(256)
        elif op == 2:
            buf[i:i] = rng.randbytes(rng.randint(1, 6))
        elif op == 3:
            del buf[i : i + rng.randint(1, 6)]
        elif op == 4:
            j = rng.randrange(len(buf) + 1)
            buf[i:i] = buf[min(i, j) : max(i, j)][:40]  # duplicate a stretch
        else:
            buf = buf[: rng.randrange(len(buf) + 1)]
        if not buf:
            buf = bytearray(b"\x01")
    return bytes(buf)


@pytest.mark.parametrize("family", FAMILIES)
def test_decoder_never_raises_nor_accepts_a_wrong_message_on_mutated_frames(family: str) -> None:
    rng = random.Random(f"mutate-{family}")
    messages = SAMPLES[family][1]
    frames = [frame_of(family, m) for m in messages]
    codec = new_codec(family)
    rejected_before = 0
    for _ in range(2500):
        index = rng.randrange(len(frames))
        mutated = _mutate(rng, frames[index])
        got = codec.feed(b"\x00" + mutated + b"\x00")
        for m in got:
            # A mutation can (rarely) leave a whole original frame intact, e.g. by duplicating it;
            # what must never happen is a message that was not sent.
            assert any(same(m, original) for original in messages), m
        if not got and any(mutated):  # bytes other than delimiters: the loss is counted
            assert codec.stats.frames_bad > rejected_before
        rejected_before = codec.stats.frames_bad


@pytest.mark.parametrize(
    "family",
    FAMILIES,
)
def test_decoder_never_raises_on_random_bodies_with_valid_crc(family: str) -> None:
    rng = random.Random(f"bodies-{family}")
    codec = new_codec(family)
    types = [cls.TYPE for cls in codec.message_types]
    valid_lengths = [len(body_of(m)) for m in SAMPLES[family][1]]
    total = 0
    for _ in range(3000):
        length = rng.choice([rng.randint(0, 40), *valid_lengths]) - 1
        body = bytes([rng.choice(types)]) + rng.randbytes(max(length, 0))
        total += len(codec.feed(encode_frame(body)))
    assert total + codec.stats.bad_length == 3000
    assert codec.stats.unknown_type == 0


# --------------------------------------------------------------------------------------------------
# Encoding refuses fields out of range.
# --------------------------------------------------------------------------------------------------


def _out_of_range_cases() -> list[Any]:
    cases: list[Any] = []
    for family in FAMILIES:
        for i, message in enumerate(SAMPLES[family][1]):
            name = f"{family}-{type(message).__name__}-{i}"
            for seq in (-1, 2**32):
                bad = dataclasses.replace(message, seq=seq)
                cases.append(pytest.param(family, bad, id=f"{name}-seq={seq}"))
            if hasattr(message, "device_time_us"):
                for t in (-1, 2**64):
                    bad = dataclasses.replace(message, device_time_us=t)
                    cases.append(pytest.param(family, bad, id=f"{name}-t={t}"))
    more = [
        ("display", display.ShowText(1, 0, ("x" * 65,)), "line of 65 bytes"),
        ("display", display.ShowText(1, 0, ("超" * 22,)), "line of 66 UTF-8 bytes"),
        ("display", display.ShowText(1, 0, ("OK", "超" * 21 + "x" * 2)), "second line of 65 bytes"),
        ("display", display.ShowText(1, 0, ("a",) * 5), "five lines"),
        ("display", display.ShowText(1, 256, ("a",)), "colour 256"),
        ("display", display.DisplayAck(1, 256), "result 256"),
        ("display", display.DisplayStatus(1, 2, 2**32), "crc 2**32"),
        ("display", display.DisplayStatus(1, 2, 3, 0x10000), "faults 0x10000"),
        ("separator", separator.CurtainEvent(1, 2, 1, 256, 0), "beams 256"),
        ("separator", separator.CurtainEvent(1, 2, 1, 0, 65536), "height 65536"),
        ("separator", separator.CurtainEvent(1, 2, 1, 0, -1), "height -1"),
        ("separator", separator.CurtainHeartbeat(1, 2, True, 0x10000), "faults 0x10000"),
        ("axle_sensor", axle.AxleEvent(1, 2, 0, 1, 0, 65536), "width 65536"),
        ("axle_sensor", axle.AxleEvent(1, 2, 256, 1, 0, 0), "strip 256"),
        ("axle_sensor", axle.AxleEvent(1, 2, 0, -1, 0, 0), "tyre -1"),
        ("axle_sensor", axle.AxleHeartbeat(1, 2, -1), "faults -1"),
        ("barrier", barrier.BarrierCommand(1, 256), "action 256"),
        ("barrier", barrier.BarrierState(1, 2, 2**32, 0), "last command 2**32"),
        ("barrier", barrier.BarrierState(1, 2, 3, 256), "position 256"),
        ("barrier", barrier.BarrierState(1, 2, 3, 0, -1), "faults -1"),
        ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.zeros((1, 256), np.int32)), "256 channels"),
        ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.zeros((256, 1), np.int32)), "256 samples"),
        ("wim_digitiser", wim.SampleBlock(1, 0, 65536, np.zeros((10, 4), np.int32)), "rate 65536"),
        ("wim_digitiser", wim.SampleBlock(1, -1, 1000, np.zeros((10, 4), np.int32)), "index -1"),
        ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.zeros((10, 4), np.int32), 0x10000), "flags"),
        ("wim_digitiser", wim.DigitiserStatus(1, 2, 327.68), "temperature 327.68"),
        ("wim_digitiser", wim.DigitiserStatus(1, 2, -327.69), "temperature -327.69"),
        ("wim_digitiser", wim.DigitiserStatus(1, 2, 20.0, 0, 2**32), "overload mask 2**32"),
    ]
    cases += [pytest.param(f, m, id=f"{f}-{why}") for f, m, why in more]
    return cases


@pytest.mark.parametrize(("family", "message"), _out_of_range_cases())
def test_encoding_a_field_out_of_range_raises_frame_error(family: str, message: Any) -> None:
    with pytest.raises(FrameError):
        new_codec(family).encode(message)


@pytest.mark.parametrize("family", FAMILIES)
def test_encoding_a_message_of_another_family_raises_frame_error(family: str) -> None:
    codec = new_codec(family)
    for other in FAMILIES:
        if other != family:
            with pytest.raises(FrameError):
                codec.encode(SAMPLES[other][1][0])


# Known gaps: the encoder accepts (or fails with another exception on) values that are out of range
# for the protocol.  Each entry is a defect; see the reply that introduced this file.
_ENCODER_GAPS = [
    ("display", display.ShowText(1, 3, ("a",)), "colour 3 encodes, decoder rejects it"),
    ("barrier", barrier.BarrierCommand(1, 0), "action 0 encodes, decoder rejects it"),
    ("barrier", barrier.BarrierState(1, 2, 3, 4), "position 4 encodes, decoder rejects it"),
    ("separator", separator.CurtainEvent(1, 2, 0), "kind 0 encodes, decoder rejects it"),
    ("axle_sensor", axle.AxleEvent(1, 2, 9, 1), "strip 9 encodes, decoder rejects it"),
    ("axle_sensor", axle.AxleEvent(1, 2, 0, 0), "tyre 0 encodes, decoder rejects it"),
    ("wim_digitiser", wim.SampleBlock(1, 0, 0, np.zeros((10, 4), np.int32)), "rate 0 encodes"),
    ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.zeros((0, 4), np.int32)), "empty block encodes"),
    (
        "wim_digitiser",
        wim.SampleBlock(1, 0, 1000, np.full((10, 4), 2**31, dtype=np.int64)),
        "int64 counts beyond int32 silently wrap",
    ),
    ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.full((10, 4), 1.7)), "float counts silently truncate"),
    ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.zeros((255, 4), np.int32)), "too big: ValueError"),
    ("wim_digitiser", wim.SampleBlock(1, 0, 1000, np.zeros(4, np.int32)), "1-D counts: ValueError"),
    ("wim_digitiser", wim.DigitiserStatus(1, 2, float("nan")), "NaN temperature: ValueError"),
    ("display", display.ShowText(1, 0, ("\ud800",)), "lone surrogate: UnicodeEncodeError"),
]


@pytest.mark.parametrize(
    ("family", "message"), [pytest.param(f, m, id=f"{f}-{why}") for f, m, why in _ENCODER_GAPS]
)
def test_encoder_refuses_what_the_protocol_does_not_allow(family: str, message: Any) -> None:
    with pytest.raises(FrameError):
        new_codec(family).encode(message)


# --------------------------------------------------------------------------------------------------
# Family specifics.
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_samples", "n_channels"), [(10, 4), (10, 8), (1, 2), (20, 16), (1, 255), (255, 3), (254, 4), (4, 254)]
)
def test_wim_sample_block_counts_round_trip_exactly(n_samples: int, n_channels: int) -> None:
    counts = _counts(n_samples, n_channels, seed=n_samples * 1000 + n_channels)
    block = wim.SampleBlock(7, 123_456_789, 1000, counts, wim.SampleBlock.FLAG_ADC_OVERLOAD)
    codec = wim.new_codec()
    frame = codec.encode(block)
    (got,) = codec.feed(frame)
    assert got.counts.dtype == np.int32
    assert got.counts.shape == (n_samples, n_channels)
    assert np.array_equal(got.counts, counts)
    assert got.counts.min() == I32_MIN and got.counts.max() == I32_MAX
    assert (got.seq, got.first_sample_index, got.sample_rate_hz, got.flags) == (7, 123_456_789, 1000, 1)
    # Wire layout: 19-byte header, then int32 LE counts sample-major (all channels of sample 0 first).
    body = body_of(block)
    assert len(body) == 19 + 4 * n_samples * n_channels
    assert struct.unpack_from("<BIQHBBH", body) == (0x01, 7, 123_456_789, 1000, n_channels, n_samples, 1)
    s, c = n_samples - 1, n_channels - 1
    assert struct.unpack_from("<i", body, 19 + 4 * (s * n_channels + c))[0] == counts[s, c]


def test_wim_sample_block_accepts_any_integer_array_in_int32_range() -> None:
    counts = np.array([[I32_MIN, -5, 0, I32_MAX]], dtype=np.int64)
    codec = wim.new_codec()
    (got,) = codec.feed(codec.encode(wim.SampleBlock(1, 0, 1000, counts)))
    assert got.counts.dtype == np.int32
    assert got.counts.tolist() == counts.tolist()


@pytest.mark.parametrize(
    ("n_channels", "n_samples", "payload_delta"),
    [
        (4, 11, 0),
        (4, 9, 0),
        (5, 10, 0),
        (3, 10, 0),
        (4, 10, -4),
        (4, 10, 4),
        (4, 10, -1),
        (4, 10, 1),
        (255, 255, 0),
    ],
)
def test_wim_sample_block_with_header_disagreeing_with_payload_is_bad_length(
    n_channels: int, n_samples: int, payload_delta: int
) -> None:
    payload = _TEN_BY_FOUR.astype("<i4").tobytes()
    payload = payload[:payload_delta] if payload_delta < 0 else payload + b"\x7f" * payload_delta
    body = build_body(0x01, "<IQHBBH", 1, 0, 1000, n_channels, n_samples, 0) + payload
    codec = wim.new_codec()
    good = sentinel("wim_digitiser")
    assert_same_list(codec.feed(encode_frame(body) + codec.encode(good)), [good])
    assert codec.stats.bad_length == 1
    assert codec.stats.frames_bad == 1


def test_wim_status_temperature_in_centidegrees() -> None:
    status = wim.DigitiserStatus(1, 2, -12.34)
    assert struct.unpack_from("<h", status.pack_fields(), 12)[0] == -1234
    codec = wim.new_codec()
    (got,) = codec.feed(codec.encode(wim.DigitiserStatus(1, 2, 21.004)))
    assert got.temperature_c == 21.0  # resolution is 0.01 °C


@pytest.mark.parametrize(
    "lines",
    [
        ("超载 请停车",),
        ("前方 称重站", "限速 5 公里", "请勿变道", "谢谢合作"),
        ("超" * 21,),
        ("车牌 粤B·12345", "总重 49.5 吨", "超限 12%", "🚛"),
    ],
)
def test_display_show_text_chinese_round_trip(lines: tuple[str, ...]) -> None:
    message = display.ShowText(9, display.ShowText.RED, lines)
    codec = display.new_codec()
    (got,) = codec.feed(codec.encode(message))
    assert got == message
    assert got.lines == lines


def test_display_line_length_limit_is_in_utf8_bytes_not_characters() -> None:
    codec = display.new_codec()
    codec.encode(display.ShowText(1, 0, ("超" * 21 + "x",)))  # 64 bytes: fine
    with pytest.raises(FrameError):
        codec.encode(display.ShowText(1, 0, ("超" * 21 + "xy",)))  # 65 bytes, 23 characters
    with pytest.raises(FrameError):
        codec.encode(display.ShowText(1, 0, ("é" * 33,)))  # 66 bytes, 33 characters


def test_curtain_heartbeat_occupied_is_a_boolean_byte() -> None:
    assert separator.CurtainHeartbeat(1, 2, True).pack_fields()[12] == 1
    assert separator.CurtainHeartbeat(1, 2, False).pack_fields()[12] == 0


def test_stats_dictionary_has_every_counter() -> None:
    codec = barrier.new_codec()
    codec.feed(b"\x00\x05\x01\x00")  # bad COBS
    codec.feed(encode_frame(b"\x99abc"))  # unknown type
    codec.feed(encode_frame(b"\x40abc"))  # bad length
    stats = codec.stats.as_dict()
    assert stats == {
        "frames_ok": 2,  # frames that passed the CRC, including the two rejected as messages
        "frames_bad": 3,
        "bad_crc": 0,
        "bad_cobs": 1,
        "oversize": 0,
        "bytes_discarded": 3,  # the two bad bytes and the delimiter that ended them
        "unknown_type": 1,
        "bad_length": 1,
    }


# --------------------------------------------------------------------------------------------------
# Golden frames: the example frames printed in docs/protocols/*.md.  A change here is a wire change.
# --------------------------------------------------------------------------------------------------

GOLDEN = [
    (
        "wim_digitiser",
        wim.SampleBlock(
            1,
            1000,
            1000,
            np.array([[1000, -250, 0, I32_MAX], [1001, -251, I32_MIN, 65536]], dtype=np.int32),
        ),
        "00030101010103e803010101010105e80304020103e803010506ffffff01010107ffffff7fe903010505ffffff01"
        "01028001020105a2fda87b00",
    ),
    (
        "wim_digitiser",
        wim.SampleBlock(2, 2000, 1000, _TEN_BY_FOUR),  # a real-time block: 10 samples x 4 channels
        "00030102010103d007010101010105e803040a0103e02e01071fd1ffffe22e0103e32e0103ea2e010715d1ffffec2e01"
        "03ed2e0103f42e01070bd1fffff62e0103f72e0103fe2e010501d1ffff022f0103012f0103082f0107f7d0ffff0a2f01"
        "030b2f0103122f0107edd0ffff142f0103152f01031c2f0107e3d0ffff1e2f01031f2f0103262f0107d9d0ffff282f01"
        "03292f0103302f0107cfd0ffff322f0103332f01033a2f0107c5d0ffff3c2f01033d2f0105cfa6c0f700",
    ),
    (
        "wim_digitiser",
        wim.DigitiserStatus(42, 12_345_678, 23.45, 0, 0b0100),
        "0003022a0101044e61bc010101010329090102040101051b3b83e300",
    ),
    (
        "separator",
        separator.CurtainEvent(100, 5_000_000, separator.CurtainEvent.ENTER, 12, 3850),
        "00031064010104404b4c0101010109010c0a0faf0cb4a900",
    ),
    (
        "separator",
        separator.CurtainEvent(102, 9_750_000, separator.CurtainEvent.LEAVE, 30, 3990),
        "00031066010104f0c5940101010109021e960feabc48e300",
    ),
    (
        "separator",
        separator.CurtainHeartbeat(101, 5_100_000, True, 0),
        "00031165010104e0d14d010101010201010585d6b46c00",
    ),
    (
        "axle_sensor",
        axle.AxleEvent(7, 5_250_000, axle.AxleEvent.STRIP_ENTRY, axle.AxleEvent.TYRE_SINGLE, 0, 315),
        "00032007010104d01b5001010101010201073b014d35124500",
    ),
    ("axle_sensor", axle.AxleHeartbeat(8, 5_300_000, 0), "0003210801010420df50010101010101055986710400"),
    (
        "display",
        display.ShowText(3, display.ShowText.RED, ("OVERWEIGHT", "超载 请停车")),
        "0003300301012301020a4f56455257454947485410e8b685e8bdbd20e8afb7e5819ce8bda62e7af8f400",
    ),
    ("display", display.DisplayAck(3, 0), "00033103010101057b0f443900"),
    (
        "display",
        display.DisplayStatus(17, 60_000_000, 0x8B24459B, 0),
        "0003321101010104879303010101059b45248b01056a80b32000",
    ),
    ("barrier", barrier.BarrierCommand(5, barrier.BarrierCommand.OPEN), "000340050101060129147d0100"),
    (
        "barrier",
        barrier.BarrierState(200, 61_500_000, 5, barrier.BarrierState.OPENING, 0),
        "000341c8010105606aaa030101010205010102010105d5a6099000",
    ),
]


@pytest.mark.parametrize(
    ("family", "message", "hex_frame"),
    [pytest.param(f, m, h, id=f"{f}-{type(m).__name__}-{i}") for i, (f, m, h) in enumerate(GOLDEN)],
)
def test_golden_frames_from_the_protocol_documents(family: str, message: Any, hex_frame: str) -> None:
    frame = bytes.fromhex(hex_frame)
    codec = new_codec(family)
    assert codec.encode(message) == frame
    assert_same_list(codec.feed(frame), [message])


def test_golden_frames_cover_every_message_type() -> None:
    assert {type(m) for _, m, _ in GOLDEN} == {type(m) for f in FAMILIES for m in SAMPLES[f][1]}


def test_display_status_crc_is_of_the_lines_joined_by_line_feed() -> None:
    assert zlib.crc32("OVERWEIGHT\n超载 请停车".encode()) == 0x8B24459B
    assert zlib.crc32(b"") == 0  # blank board
