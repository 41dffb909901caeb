"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical number formats, as GATT uses them.

A value is ``mantissa * 10**exponent``. SFLOAT: 4-bit signed exponent (high nibble), 12-bit signed
mantissa. FLOAT: 8-bit signed exponent (high byte), 24-bit signed mantissa. With exponent 0, five
mantissa values are reserved for special values (:class:`Special`): NaN, NRes (not at this
resolution), +INF, -INF and one reserved for future use.

Example::

    >>> decode_sfloat(0xF3D2)  # exponent -1, mantissa 978: an SpO2 of 97.8 %
    97.8
    >>> hex(encode_sfloat(97.8))
    '0xf3d2'
"""

from __future__ import annotations

import enum
import math

from anyppg.firmware_bridge.errors import FieldRangeError

__all__ = [
    "Special",
    "decode_float",
    "decode_sfloat",
    "encode_float",
    "encode_sfloat",
    "float_special",
    "sfloat_special",
]


class Special(enum.Enum):
    """The special values of both formats."""

    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "reserved"


# mantissa offsets from the format's largest positive mantissa (0x07FF / 0x007FFFFF)
_SPECIAL_OFFSETS = {
    Special.NAN: 0,
    Special.NRES: 1,
    Special.POSITIVE_INFINITY: -1,
    Special.NEGATIVE_INFINITY: 3,
    Special.RESERVED: 2,
}


class _Format:
    def __init__(self, name: str, mantissa_bits: int, exponent_bits: int) -> None:
        self.name = name
        self.mantissa_bits = mantissa_bits
        self.exponent_bits = exponent_bits
        self.m_max = (1 << (mantissa_bits - 1)) - 1  # 2047 / 8388607
        self.m_safe = self.m_max - 2  # 2045: |mantissa| <= this is never a special code
        self.digits = len(str(self.m_safe)) - 1  # whole decimal digits a mantissa always holds
        self.e_max = (1 << (exponent_bits - 1)) - 1
        self.e_min = -(1 << (exponent_bits - 1))
        self.specials = {self.m_max + off: sp for sp, off in _SPECIAL_OFFSETS.items()}  # raw codes
        self.codes = {sp: code for code, sp in self.specials.items()}
        self.bits = mantissa_bits + exponent_bits

    def split(self, raw: int) -> tuple[int, int]:
        if not 0 <= raw < (1 << self.bits):
            raise FieldRangeError(f"{self.name} raw value", raw, f"0..0x{(1 << self.bits) - 1:X}")
        mantissa = raw & ((1 << self.mantissa_bits) - 1)
        exponent = raw >> self.mantissa_bits
        if exponent > self.e_max:
            exponent -= 1 << self.exponent_bits
        return mantissa, exponent

    def special(self, raw: int) -> Special | None:
        mantissa, exponent = self.split(raw)
        return self.specials.get(mantissa) if exponent == 0 else None

    def decode(self, raw: int) -> float:
        mantissa, exponent = self.split(raw)
        if exponent == 0 and mantissa in self.specials:
            sp = self.specials[mantissa]
            if sp is Special.POSITIVE_INFINITY:
                return math.inf
            if sp is Special.NEGATIVE_INFINITY:
                return -math.inf
            return math.nan
        if mantissa > self.m_max:
            mantissa -= 1 << self.mantissa_bits
        # dividing by a power of ten rounds correctly where multiplying by 10**-k would not
        return float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10 ** (-exponent)

    def _exact(self, value: float) -> list[int]:
        """The exponent closest to 0 that holds ``value`` exactly (97 -> 97e0, 97.8 -> 978e-1), if any.

        Devices send whole numbers with exponent 0 and decimals with the fewest places, so this choice
        re-encodes what they send byte for byte.
        """
        for k in range(max(-self.e_min, self.e_max) + 1):
            for exponent in (-k, k) if k else (0,):
                if not self.e_min <= exponent <= self.e_max:
                    continue
                scaled = value / 10**exponent if exponent >= 0 else value * 10 ** (-exponent)
                if abs(scaled) > self.m_safe:
                    continue
                mantissa = round(scaled)
                back = mantissa * 10**exponent if exponent >= 0 else mantissa / 10 ** (-exponent)
                if back == value:
                    return [exponent]
        return []

    def _most_precise(self, value: float) -> list[int]:
        """Candidate exponents, smallest first, that leave the most digits in the mantissa."""
        first = max(self.e_min, math.floor(math.log10(abs(value))) - self.digits)
        return [e for e in (first, first + 1, first + 2) if e <= self.e_max]

    def encode(self, value: float | Special, precision: int | None) -> int:
        if isinstance(value, Special):
            return self.codes[value]
        if math.isnan(value):
            return self.codes[Special.NAN]
        if math.isinf(value):
            return self.codes[Special.POSITIVE_INFINITY if value > 0 else Special.NEGATIVE_INFINITY]
        if precision is not None:
            candidates = [-precision]
        elif value == 0:
            candidates = [0]
        else:
            candidates = self._exact(value) or self._most_precise(value)
        for exponent in candidates:
            scaled = value / 10**exponent if exponent >= 0 else value * 10 ** (-exponent)
            if not math.isfinite(scaled):
                continue
            mantissa = round(scaled)
            if -self.m_safe <= mantissa <= self.m_safe:  # never collides with a special code
                return ((exponent & ((1 << self.exponent_bits) - 1)) << self.mantissa_bits) | (
                    mantissa & ((1 << self.mantissa_bits) - 1)
                )
        raise FieldRangeError(
            f"{self.name} value",
            value,
            f"|mantissa| <= {self.m_safe} and exponent {self.e_min}..{self.e_max} (precision {precision})",
        )


_SFLOAT = _Format("SFLOAT", 12, 4)
_FLOAT = _Format("FLOAT", 24, 8)


def decode_sfloat(raw: int) -> float:
    """The number a 16-bit SFLOAT holds; NaN / NRes / reserved give ``nan``, ±INF give ``±inf``.

    Raises:
        FieldRangeError: ``raw`` is not a 16-bit value.
    """
    return _SFLOAT.decode(raw)


def sfloat_special(raw: int) -> Special | None:
    """Which special value a 16-bit SFLOAT is, or None for an ordinary number.

    Raises:
        FieldRangeError: ``raw`` is not a 16-bit value.
    """
    return _SFLOAT.special(raw)


def encode_sfloat(value: float | Special, precision: int | None = None) -> int:
    """The 16-bit SFLOAT closest to ``value``.

    Args:
        value: a number, ``nan`` / ``±inf``, or a :class:`Special`.
        precision: decimal places to keep (exponent ``-precision``); by default the most that fit.

    Raises:
        FieldRangeError: the value does not fit (|mantissa| <= 2045 at the exponent used).
    """
    return _SFLOAT.encode(value, precision)


def decode_float(raw: int) -> float:
    """The number a 32-bit FLOAT holds (specials as in :func:`decode_sfloat`).

    Raises:
        FieldRangeError: ``raw`` is not a 32-bit value.
    """
    return _FLOAT.decode(raw)


def float_special(raw: int) -> Special | None:
    """Which special value a 32-bit FLOAT is, or None."""
    return _FLOAT.special(raw)


def encode_float(value: float | Special, precision: int | None = None) -> int:
    """The 32-bit FLOAT closest to ``value`` (see :func:`encode_sfloat`).

    Raises:
        FieldRangeError: the value does not fit.
    """
    return _FLOAT.encode(value, precision)
