"""SYN6288 voice frames (drivers/voice/codec.py): a frame written by hand from LibDriver's SYN6288
driver, refusals, garbage, truncation and bit flips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.voice.codec import (
    MAX_TEXT_BYTES,
    HostCodec,
    ModuleCodec,
    ModuleCommand,
    Status,
    SynthesiseText,
    TextEncoding,
)

# "你好" as GBK is C4 E3 BA C3.  FD, length 00 07 (01, 01, four text bytes, XOR), command 01, parameter
# 01 (GBK, no background tune), the text, and the XOR of all of that:
# FD^00^07^01^01 = FA, ^C4 = 3E, ^E3 = DD, ^BA = 67, ^C3 = A4.
HELLO = bytes.fromhex("FD 0007 01 01 C4E3BAC3 A4")
# LibDriver's syn6288_stop and syn6288_get_status send these constant frames.
STOP = bytes.fromhex("FD 0002 02 FD")
QUERY = bytes.fromhex("FD 0002 21 DE")
VERDICT = "晋A12345 超载7.00吨 禁止出场 请倒车卸货后复磅"


def test_the_hand_written_frame_is_what_the_codec_writes_and_reads() -> None:
    assert SynthesiseText("你好").to_bytes() == HELLO
    assert ModuleCodec().feed(HELLO) == [SynthesiseText("你好", TextEncoding.GBK, 0)]


def test_other_commands_match_libdriver_constants() -> None:
    assert ModuleCommand(0x02).to_bytes() == STOP
    assert ModuleCommand(0x21).to_bytes() == QUERY
    assert ModuleCodec().feed(STOP + QUERY) == [ModuleCommand(0x02), ModuleCommand(0x21)]


def test_a_verdict_round_trips_in_gbk() -> None:
    frame = SynthesiseText(VERDICT).to_bytes()
    assert frame[3:5] == b"\x01\x01" and int.from_bytes(frame[1:3], "big") == len(frame) - 3
    assert ModuleCodec().feed(frame) == [SynthesiseText(VERDICT)]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("车辆\U0001f69a超载", "has no GBK code"),
        ("超" * (MAX_TEXT_BYTES // 2 + 1), f"at most {MAX_TEXT_BYTES}"),
    ],
)
def test_text_that_cannot_be_sent_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        SynthesiseText(text).to_bytes()


def test_the_longest_text_fits() -> None:
    text = "超" * (MAX_TEXT_BYTES // 2)
    assert ModuleCodec().feed(SynthesiseText(text).to_bytes()) == [SynthesiseText(text)]


def test_garbage_between_frames_is_skipped_and_counted() -> None:
    codec = ModuleCodec()
    frames = codec.feed(b"\x00\x13junk" + HELLO + b"\xfd\x00" + b"zz" + STOP)
    assert frames == [SynthesiseText("你好"), ModuleCommand(0x02)]
    assert codec.stats.frames_ok == 2
    assert codec.stats.bytes_discarded > 0


def test_a_frame_arriving_in_pieces_is_read_once_complete() -> None:
    codec = ModuleCodec()
    for byte in HELLO[:-1]:
        assert codec.feed(bytes((byte,))) == []
    assert codec.feed(HELLO[-1:]) == [SynthesiseText("你好")]


def test_a_truncated_frame_then_a_good_one_yields_the_good_one() -> None:
    codec = ModuleCodec()
    assert codec.feed(HELLO[:6] + HELLO) == [SynthesiseText("你好")]
    assert codec.stats.frames_bad >= 1


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(min_value=0, max_value=len(HELLO) * 8 - 1))
def test_one_flipped_bit_never_yields_a_wrong_text(bit: int) -> None:
    raw = bytearray(HELLO)
    raw[bit // 8] ^= 1 << (bit % 8)
    codec = ModuleCodec()
    frames = codec.feed(bytes(raw) + STOP)
    assert SynthesiseText("你好") not in frames
    assert all(not isinstance(frame, SynthesiseText) for frame in frames)
    assert frames[-1:] == [ModuleCommand(0x02)] or codec.stats.frames_bad >= 1


def test_the_host_reads_status_bytes_and_drops_noise() -> None:
    codec = HostCodec()
    assert codec.feed(b"\x41\x00\x4f\x45x\x4e") == [Status.RECEIVED, Status.IDLE, Status.ERROR, Status.BUSY]
    assert codec.stats.bytes_discarded == 2


def test_the_documented_example_frames_are_the_codec_s() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "protocols" / "voice.md").read_text(encoding="utf-8")
    for frame in (HELLO, STOP, QUERY):
        assert frame.hex(" ").upper() in doc
