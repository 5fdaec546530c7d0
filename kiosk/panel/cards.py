"""Card credentials: what a reader reports to a panel for a person, and the Wiegand frame that carries it.

Formats (the two every panel reads):
- `wiegand26` (H10301): even parity over bits 2-13, 8-bit facility code, 16-bit card number, odd
  parity over bits 14-25.
- `wiegand34` (H10306): even parity over bits 2-17, 16-bit facility code, 16-bit card number, odd
  parity over bits 18-33.
Written in a gallery file as `card: "wiegand26:12:3456"` (format, facility code, card number).
"""

import re
from dataclasses import dataclass
from typing import Literal

from kiosk.errors import FacegateError

CardFormat = Literal["wiegand26", "wiegand34"]
FIELD_BITS: dict[str, int] = {"wiegand26": 8, "wiegand34": 16}  # facility code bits; the card number is 16 bits
NUMBER_BITS = 16
_TEXT = re.compile(r"^(wiegand26|wiegand34):(\d{1,5}):(\d{1,5})$")


class CardError(FacegateError):
    """A card credential that cannot be written or read (range, format, parity)."""


@dataclass(frozen=True, order=True)
class Card:
    format: CardFormat
    facility: int
    number: int

    def __post_init__(self) -> None:
        if self.format not in FIELD_BITS:
            raise CardError(f"card format {self.format!r}: use wiegand26 or wiegand34")
        if not 0 <= self.facility < 2 ** FIELD_BITS[self.format]:
            raise CardError(f"facility code {self.facility} does not fit {self.format} "
                            f"(0 to {2 ** FIELD_BITS[self.format] - 1})")
        if not 0 <= self.number < 2 ** NUMBER_BITS:
            raise CardError(f"card number {self.number} does not fit {self.format} (0 to {2 ** NUMBER_BITS - 1})")

    @classmethod
    def parse(cls, text: str) -> "Card":
        """From `wiegand26:12:3456`; the error says what is expected."""
        match = _TEXT.match(text.strip())
        if match is None:
            raise CardError(f"card {text!r}: write it as format:facility:number, e.g. wiegand26:12:3456")
        return cls(match.group(1), int(match.group(2)), int(match.group(3)))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.format}:{self.facility}:{self.number}"

    @property
    def length(self) -> int:
        return FIELD_BITS[self.format] + NUMBER_BITS + 2

    def bits(self) -> list[int]:
        """The frame as sent on the wire, first bit first, parity included."""
        payload = _bits(self.facility, FIELD_BITS[self.format]) + _bits(self.number, NUMBER_BITS)
        half = len(payload) // 2
        even = sum(payload[:half]) % 2          # makes the first half plus its parity even
        odd = 1 - sum(payload[half:]) % 2       # makes the second half plus its parity odd
        return [even, *payload, odd]

    def packed(self) -> bytes:
        """The frame's bits packed most significant bit first, zero-padded: OSDP's raw card data."""
        bits = self.bits() + [0] * (-self.length % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))

    @classmethod
    def from_bits(cls, bits: list[int]) -> "Card":
        """A frame read from a reader: its length says the format; both parities must hold."""
        formats = {FIELD_BITS[name] + NUMBER_BITS + 2: name for name in FIELD_BITS}
        name = formats.get(len(bits))
        if name is None:
            raise CardError(f"a {len(bits)}-bit frame: only 26- and 34-bit cards are read")
        payload, half = bits[1:-1], (len(bits) - 2) // 2
        if (bits[0] + sum(payload[:half])) % 2 != 0 or (bits[-1] + sum(payload[half:])) % 2 != 1:
            raise CardError(f"a {len(bits)}-bit frame failed its parity check (a misread card)")
        facility_bits = FIELD_BITS[name]
        return cls(name, _value(payload[:facility_bits]), _value(payload[facility_bits:]))  # type: ignore[arg-type]

    @classmethod
    def from_packed(cls, data: bytes, length: int) -> "Card":
        bits = [(byte >> (7 - i)) & 1 for byte in data for i in range(8)][:length]
        return cls.from_bits(bits)


def _bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def _value(bits: list[int]) -> int:
    return int("".join(map(str, bits)), 2) if bits else 0
