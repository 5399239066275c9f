"""The card readers' EM4100 ASCII codec: the datasheet's example, both frame lengths, garbage, truncation
and every single bit flip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.card.em4100 import CardCodec, CardFrame
from drivers.errors import FrameError
from drivers.registry import load_driver_class, types_for

# ID Innovations ID-2/12/20 LA datasheet, section 4: data 0C000621A5, XOR checksum 8E, STX ... CR LF ETX.
ID12_EXAMPLE = b"\x02" + b"0C000621A58E" + b"\r\n" + b"\x03"
# The same card from an RDM6300-style reader: 14 bytes, no CR LF.
RDM_EXAMPLE = b"\x02" + b"0C000621A58E" + b"\x03"
OTHER = CardFrame.from_hex("1300A1B2C3")


def test_the_datasheet_example_decodes_to_its_card_and_numbers() -> None:
    codec = CardCodec()
    (frame,) = codec.feed(ID12_EXAMPLE)
    assert frame.data == bytes((0x0C, 0x00, 0x06, 0x21, 0xA5))
    assert frame.card_id == "0C000621A5"
    assert frame.number == 401829  # 0x000621A5
    assert frame.printed_number == "0000401829"
    assert frame.wiegand26 == "006,08613"  # facility 0x06, card 0x21A5
    assert codec.stats.as_dict() == {"frames_ok": 1, "frames_bad": 0, "bytes_discarded": 0}


def test_both_frame_lengths_decode_and_encode_exactly() -> None:
    frame = CardFrame.from_hex("0C000621A5")
    assert CardCodec(crlf=True).encode(frame) == ID12_EXAMPLE
    assert CardCodec(crlf=False).encode(frame) == RDM_EXAMPLE
    assert CardCodec().feed(RDM_EXAMPLE) == [frame]
    assert CardCodec().feed(b"\x02" + b"0c000621a58e" + b"\x03") == [frame]  # lower case hex


def test_any_chunking_gives_the_same_cards() -> None:
    stream = ID12_EXAMPLE + CardCodec(crlf=False).encode(OTHER) + ID12_EXAMPLE
    codec = CardCodec()
    got = [frame for byte in stream for frame in codec.feed(bytes((byte,)))]
    assert [f.card_id for f in got] == ["0C000621A5", "1300A1B2C3", "0C000621A5"]


def test_garbage_between_frames_is_counted_and_skipped() -> None:
    codec = CardCodec()
    got = codec.feed(b"\xff\x00noise\r\n" + ID12_EXAMPLE + b"\x03\x03zz" + RDM_EXAMPLE)
    assert len(got) == 2
    assert codec.stats.frames_ok == 2 and codec.stats.frames_bad == 0
    assert codec.stats.bytes_discarded == len(b"\xff\x00noise\r\n") + 4


@pytest.mark.parametrize("keep", range(1, len(ID12_EXAMPLE) - 1))
def test_a_truncated_frame_is_dropped_and_the_next_one_read(keep: int) -> None:
    codec = CardCodec()
    assert codec.feed(ID12_EXAMPLE[:keep] + CardCodec().encode(OTHER)) == [OTHER]
    assert codec.stats.frames_bad == 1


@pytest.mark.parametrize("bit", range(8 * len(ID12_EXAMPLE)))
def test_no_single_bit_flip_reads_as_another_card(bit: int) -> None:
    flipped = bytearray(ID12_EXAMPLE)
    flipped[bit // 8] ^= 1 << (bit % 8)
    codec = CardCodec()
    got = codec.feed(bytes(flipped) + CardCodec().encode(OTHER))
    # The XOR checksum catches any one changed digit; a flip of a letter's case is the same card.
    assert got in ([OTHER], [CardFrame.from_hex("0C000621A5"), OTHER])
    if len(got) == 1:
        assert codec.stats.frames_bad + codec.stats.bytes_discarded > 0


def test_a_wrong_checksum_is_refused() -> None:
    codec = CardCodec()
    assert codec.feed(b"\x02" + b"0C000621A58F" + b"\r\n\x03") == []
    assert codec.stats.frames_bad == 1 and codec.stats.bytes_discarded == 16


@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=12))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_raise_and_every_card_read_checks_out(data: bytes, cuts: list[int]) -> None:
    codec = CardCodec()
    stream = data + ID12_EXAMPLE
    got: list[CardFrame] = []
    position = 0
    for cut in cuts:
        got += codec.feed(stream[position : position + cut])
        position += cut
    got += codec.feed(stream[position:])
    assert got and got[-1] == CardFrame.from_hex("0C000621A5")
    for frame in got:  # a card read from noise is a whole, valid frame that is in the stream
        assert any(CardCodec(crlf=crlf).encode(frame) in stream.upper() for crlf in (True, False))


@pytest.mark.parametrize("text", ["0C000621", "0C000621A5FF", "0C00062IA5", ""])
def test_card_ids_that_are_not_five_bytes_of_hex_are_refused(text: str) -> None:
    with pytest.raises(FrameError):
        CardFrame.from_hex(text)


def test_the_reader_is_registered_for_the_card_reader_role() -> None:
    assert types_for("card_reader") == ["em4100_ascii"]
    assert load_driver_class("em4100_ascii", "card_reader").__name__ == "CardReader"
