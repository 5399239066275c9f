"""Weighing-indicator codecs: the example frames of DOMAIN.md section 4, garbage, truncation, bit flips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import FrameError
from drivers.indicator.sics import SicsCodec, SicsCommand, SicsReply
from drivers.indicator.toledo import ToledoCodec, ToledoFrame
from drivers.indicator.xk3190 import Xk3190Codec, Xk3190Command, Xk3190Reply, Xk3190Weight

XK_EXAMPLE = bytes.fromhex("02 2B 30 30 31 35 36 30 30 31 39 03")  # +1560 kg, DOMAIN.md section 4

# -- XK3190-A9 ---------------------------------------------------------------------------------------------


def test_xk3190_decodes_the_example_frame() -> None:
    codec = Xk3190Codec()
    assert codec.feed(XK_EXAMPLE) == [Xk3190Weight(1560, 0)]
    assert codec.feed(XK_EXAMPLE)[0].weight == 1560.0
    assert codec.stats.frames_ok == 2 and codec.stats.frames_bad == 0


def test_xk3190_encodes_the_example_frame() -> None:
    assert Xk3190Codec().encode(Xk3190Weight(1560)) == XK_EXAMPLE


def test_xk3190_xor_nibbles_above_nine_are_letters() -> None:
    frame = Xk3190Codec().encode(Xk3190Weight(-12345, 2))
    # XOR of "-0123452" is 0x1E: sent as "1" "E" (0x0E + 0x37).
    assert frame == b"\x02-0123452" + b"1E" + b"\x03"
    assert Xk3190Codec().feed(frame) == [Xk3190Weight(-12345, 2)]
    assert Xk3190Weight(-12345, 2).weight == pytest.approx(-123.45)


def test_xk3190_command_mode_round_trip_both_sides() -> None:
    host, indicator = Xk3190Codec("host"), Xk3190Codec("indicator")
    for command in "ABCD":
        wire = host.encode(Xk3190Command("C", command))
        assert len(wire) == 6
        assert indicator.feed(wire) == [Xk3190Command("C", command)]
    assert host.feed(indicator.encode(Xk3190Reply("C", "A"))) == [Xk3190Reply("C", "A")]
    reply = Xk3190Reply("C", "D", Xk3190Weight(48_720, 0))
    wire = indicator.encode(reply)
    assert len(wire) == 14
    assert host.feed(wire) == [reply]
    # A host never takes its own commands for replies, nor an indicator weight frames for commands.
    assert host.feed(host.encode(Xk3190Command("C", "B"))) == []
    assert indicator.feed(XK_EXAMPLE) == []
    assert host.stats.frames_bad == 1 and indicator.stats.frames_bad == 1


@pytest.mark.parametrize(
    "frame",
    [Xk3190Weight(1_000_000), Xk3190Weight(1, 10), Xk3190Command("a", "B"), Xk3190Command("A", "E")],
)
def test_xk3190_refuses_to_encode_out_of_range_fields(
    frame: Xk3190Weight | Xk3190Command,
) -> None:
    with pytest.raises(FrameError):
        Xk3190Codec().encode(frame)


def test_xk3190_handshake_reply_carries_no_weight() -> None:
    with pytest.raises(FrameError):
        Xk3190Codec().encode(Xk3190Reply("A", "A", Xk3190Weight(1)))
    with pytest.raises(FrameError):
        Xk3190Codec().encode(Xk3190Reply("A", "B"))


def test_xk3190_resyncs_after_garbage_and_a_cut_frame() -> None:
    codec = Xk3190Codec()
    stream = b"\xff\x00noise" + XK_EXAMPLE[:7] + XK_EXAMPLE + b"\x03\x03" + XK_EXAMPLE
    assert codec.feed(stream) == [Xk3190Weight(1560)] * 2
    assert codec.stats.frames_bad == 1  # the cut frame
    assert codec.stats.bytes_discarded == len(b"\xff\x00noise") + 7 + 2


def test_xk3190_an_stx_without_etx_is_dropped_after_the_longest_frame() -> None:
    codec = Xk3190Codec()
    assert codec.feed(b"\x02" + b"7" * 20) == []
    assert codec.stats.frames_bad == 1
    assert codec.feed(XK_EXAMPLE) == [Xk3190Weight(1560)]


# -- Toledo continuous -------------------------------------------------------------------------------------


def test_toledo_frame_layout_and_checksum() -> None:
    frame = ToledoFrame(15_600, 2_300, decimal_code=2, increment_code=1, net=True, motion=True)
    wire = frame.pack()
    assert len(wire) == 18
    assert wire[0] == 0x02 and wire[16] == 0x0D
    assert wire[4:16] == b"015600002300"
    assert wire[1] == 0x20 | 2 | 1 << 3  # SWA: decimal code 2, increment x1, bit 5
    assert wire[2] == 0x20 | 0x01 | 0x08 | 0x10  # SWB: net, motion, kg
    assert sum(wire) & 0x7F == 0  # two's complement: the 7-bit sum of the frame is zero
    assert ToledoCodec().feed(wire) == [frame]


def test_toledo_status_bits_and_scaling() -> None:
    codec = ToledoCodec()
    # SWA 0x29: decimal code 1 (x10), increment x1; SWB 0x36: negative, out of range, kg; digits 001234 -> -12340 kg.
    wire = bytes.fromhex(
        "02 29 36 20 30 30 31 32 33 34 30 30 30 30 30 30 0D 28"
    )  # docs/protocols/indicators.md
    (frame,) = codec.feed(wire)
    assert frame.weight == -12_340.0 and frame.negative and frame.over_range and frame.kg
    assert not frame.motion and not frame.net and frame.increment == 1
    assert ToledoFrame(5, decimal_code=4).weight == pytest.approx(0.05)
    assert ToledoFrame(5, decimal_code=0).weight == 500.0


def test_toledo_resyncs_after_garbage_and_a_cut_frame() -> None:
    codec = ToledoCodec()
    good = ToledoFrame(49_000, motion=False).pack()
    stream = b"garbage\x7f" + good[:10] + good + good[:3] + b"\x02\x02" + good
    assert codec.feed(stream) == [ToledoFrame(49_000)] * 2
    assert codec.stats.frames_bad >= 2


# -- MT-SICS -----------------------------------------------------------------------------------------------


def test_sics_decodes_the_example_replies() -> None:
    codec = SicsCodec()
    stream = b"S S     100.00 kg\r\nS D     100.02 kg\r\nS I\r\nS +\r\nS -\r\n"
    assert codec.feed(stream) == [
        SicsReply("S", "S", Decimal("100.00"), "kg"),
        SicsReply("S", "D", Decimal("100.02"), "kg"),
        SicsReply("S", "I"),
        SicsReply("S", "+"),
        SicsReply("S", "-"),
    ]
    assert codec.stats.frames_ok == 5 and codec.stats.frames_bad == 0


def test_sics_encodes_the_example_reply_exactly() -> None:
    assert SicsCodec("indicator").encode(SicsReply("S", "S", Decimal("100.00"), "kg")) == (
        b"S S     100.00 kg\r\n"
    )


def test_sics_zero_tare_and_error_replies() -> None:
    codec = SicsCodec()
    replies = codec.feed(b"Z A\r\nZ I\r\nT S    2500.0 kg\r\nT +\r\nES\r\nEL\r\n")
    assert [(r.command, r.status) for r in replies] == [
        ("Z", "A"), ("Z", "I"), ("T", "S"), ("T", "+"), ("E", "S"), ("E", "L"),
    ]  # fmt: skip
    assert replies[2].weight_kg == 2500.0
    assert SicsReply("S", "S", Decimal("1.5"), "t").weight_kg == 1500.0
    # Not in the grammar: a zero reply with a weight, a dynamic tare, an unknown unit.
    assert codec.feed(b"Z S 1 kg\r\nT D     1.0 kg\r\nS S 1.0 oz\r\n") == []
    assert codec.stats.frames_bad == 3


def test_sics_indicator_side_reads_commands() -> None:
    codec = SicsCodec("indicator")
    wire = b"".join(SicsCodec().encode(SicsCommand(c)) for c in ("S", "SI", "SIR", "Z", "T", "@"))
    assert [c.name for c in codec.feed(wire)] == ["S", "SI", "SIR", "Z", "T", "@"]


def test_sics_over_long_line_is_garbage_and_the_next_line_is_read() -> None:
    codec = SicsCodec()
    assert codec.feed(b"x" * 100) == []
    assert codec.feed(b"y" * 100 + b"\r") == []
    assert codec.feed(b"\nS S      12.34 kg\r\n") == [SicsReply("S", "S", Decimal("12.34"), "kg")]
    assert codec.stats.frames_bad == 1
    assert codec.stats.bytes_discarded == 202


def test_sics_cr_lf_split_across_chunks() -> None:
    codec = SicsCodec()
    assert codec.feed(b"S S      12.34 kg\r") == []
    assert codec.feed(b"\n") == [SicsReply("S", "S", Decimal("12.34"), "kg")]


# -- every codec: garbage, truncation, bit flips ------------------------------------------------------------

XK_FRAMES = [Xk3190Weight(v, d) for v, d in ((1560, 0), (-49_000, 0), (999_999, 3), (0, 1))]
TOLEDO_FRAMES = [
    ToledoFrame(49_000, 12_000, 2, 1, net=True),
    ToledoFrame(123_456, 0, 3, 3, negative=True, over_range=True, motion=True, kg=False, swc=0x1F),
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=20))
def test_codecs_never_raise_on_garbage_in_any_chunking(data: bytes, cuts: list[int]) -> None:
    for codec in (
        Xk3190Codec("host"),
        Xk3190Codec("indicator"),
        ToledoCodec(),
        SicsCodec(),
        SicsCodec("indicator"),
    ):
        pos = 0
        for cut in [*cuts, len(data)]:
            codec.feed(data[pos : pos + cut])  # type: ignore[attr-defined]
            pos += cut
        stats = codec.stats  # type: ignore[attr-defined]
        assert stats.bytes_discarded <= len(data)
        assert stats.frames_ok <= len(data) // 6 + 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.integers(0, len(XK_FRAMES) - 1), st.integers(0, 11))
def test_xk3190_good_frame_after_garbage_and_a_truncated_one(garbage: bytes, which: int, cut: int) -> None:
    codec = Xk3190Codec()
    frame = XK_FRAMES[which]
    wire = codec.encode(frame)
    # ETX first: garbage holding an STX is a frame cut short, not a prefix of ours.
    decoded = codec.feed(garbage + b"\x03" + wire[:cut] + wire)
    assert decoded[-1] == frame


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.integers(0, 1), st.integers(0, 17))
def test_toledo_good_frame_after_garbage_and_a_truncated_one(garbage: bytes, which: int, cut: int) -> None:
    codec = ToledoCodec()
    frame = TOLEDO_FRAMES[which]
    decoded = codec.feed(garbage + frame.pack()[:cut] + frame.pack() + frame.pack())
    assert decoded[-1] == frame


@pytest.mark.parametrize("which", range(len(XK_FRAMES)))
def test_xk3190_every_single_bit_flip_is_rejected(which: int) -> None:
    wire = Xk3190Codec().encode(XK_FRAMES[which])
    for bit in range(len(wire) * 8):
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 1 << (bit % 8)
        codec = Xk3190Codec()
        assert codec.feed(bytes(flipped)) == [], f"bit {bit} flipped went unnoticed"
        assert codec.feed(wire) == [XK_FRAMES[which]], "the next good frame is read"


@pytest.mark.parametrize("which", range(len(TOLEDO_FRAMES)))
def test_toledo_every_single_bit_flip_is_rejected(which: int) -> None:
    wire = TOLEDO_FRAMES[which].pack()
    for bit in range(len(wire) * 8):
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 1 << (bit % 8)
        codec = ToledoCodec()
        assert codec.feed(bytes(flipped)) == [], f"bit {bit} flipped went unnoticed"
        assert codec.feed(wire) == [TOLEDO_FRAMES[which]], "the next good frame is read"


def test_sics_bit_flips_never_make_a_reply_with_another_meaning_unnoticed() -> None:
    """MT-SICS has no checksum: a flipped digit stays a digit.  Every flip gives either nothing, or a
    reply of the grammar, and never a reply with another command or status class out of a weight."""
    wire = SicsCodec("indicator").encode(SicsReply("S", "S", Decimal("100.00"), "kg"))
    rejected = 0
    for bit in range(len(wire) * 8):
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 1 << (bit % 8)
        codec = SicsCodec()
        got = codec.feed(bytes(flipped) + wire + wire)
        assert got[-1] == SicsReply("S", "S", Decimal("100.00"), "kg"), "the next line is read"
        if len(got) < 3:
            rejected += 1
        else:
            assert got[0].command in ("S", "T") and got[0].value is not None  # type: ignore[union-attr]
    assert rejected >= len(wire) * 8 * 3 // 4  # most flips break the grammar


# -- round trips of every valid frame ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(-999_999, 999_999), st.integers(0, 9), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
def test_xk3190_round_trip(value: int, decimals: int, address: str) -> None:
    host, indicator = Xk3190Codec("host"), Xk3190Codec("indicator")
    weight = Xk3190Weight(value, decimals)
    reply = Xk3190Reply(address, "B", weight)
    assert host.feed(host.encode(weight) + indicator.encode(reply)) == [weight, reply]
    assert weight.weight == pytest.approx(value / 10**decimals)


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        ToledoFrame,
        weight_digits=st.integers(0, 999_999),
        tare_digits=st.integers(0, 999_999),
        decimal_code=st.integers(0, 7),
        increment_code=st.integers(1, 3),
        net=st.booleans(),
        negative=st.booleans(),
        over_range=st.booleans(),
        motion=st.booleans(),
        kg=st.booleans(),
        swc=st.integers(0, 0x1F),
    )
)
def test_toledo_round_trip(frame: ToledoFrame) -> None:
    assert ToledoCodec().feed(frame.pack()) == [frame]


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=-99_999, max_value=999_999, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(["S", "D"]),
    st.sampled_from(["kg", "g", "t", "lb"]),
)
def test_sics_weight_reply_round_trip(value: Decimal, status: str, unit: str) -> None:
    reply = SicsReply("S", status, value, unit)
    (decoded,) = SicsCodec().feed(SicsCodec("indicator").encode(reply))
    assert decoded.value == value and decoded.status == status and decoded.unit == unit  # type: ignore[union-attr]


def test_sics_exponent_decimals_are_sent_as_plain_digits() -> None:
    wire = SicsCodec("indicator").encode(SicsReply("S", "S", Decimal("1E+3"), "kg"))
    assert wire == b"S S       1000 kg\r\n"
    with pytest.raises(FrameError):
        SicsCodec("indicator").encode(SicsReply("S", "S", Decimal("12345678.901"), "kg"))
