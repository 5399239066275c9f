"""Serial text-to-speech voice modules (SYN6288 and compatibles): codec and driver.

See docs/protocols/voice.md.
"""
