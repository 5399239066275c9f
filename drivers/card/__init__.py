"""RFID / IC card readers (125 kHz EM4100-family, ASCII serial output): codec and driver.

See docs/protocols/card_reader.md.
"""
