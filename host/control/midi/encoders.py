"""Relative encoders, 14-bit controller pairs and (N)RPN: turning controller streams into values.

Relative encodings (a tick's value -> signed steps):

* ``twos_complement``: 1..63 up, 127..65 down (127 = -1);
* ``signed_bit`` (Mackie V-pots): bit 6 is the sign, bits 0-5 the count (0x41 = -1);
* ``binary_offset``: 64 is no move, 65 = +1, 63 = -1;
* ``increment``: NRPN data increment / decrement (CC 96 / 97), one step each.

A 14-bit controller is a pair, MSB on controller n (0-31) and LSB on n+32.
Per the MIDI specification an MSB resets the LSB.  Devices send the pair in
either order; the order is learnt from the first half that arrives: MSB
first, the MSB gives a coarse value at once and the LSB refines it; LSB first,
the LSB is held until its MSB comes, so the value never jumps back a step.
"""

from __future__ import annotations

from dataclasses import dataclass

NRPN_MSB, NRPN_LSB, RPN_MSB, RPN_LSB = 99, 98, 101, 100
DATA_MSB, DATA_LSB, DATA_INCREMENT, DATA_DECREMENT = 6, 38, 96, 97
RPN_NULL = 0x3FFF


def relative_steps(encoding: str, value: int) -> int:
    """Signed steps of one relative message."""
    value &= 0x7F
    if encoding == "twos_complement":
        return value - 128 if value >= 64 else value
    if encoding == "signed_bit":
        return -(value & 0x3F) if value & 0x40 else value & 0x3F
    if encoding == "binary_offset":
        return value - 64
    raise ValueError(f"{encoding!r} is not a relative encoding")


def accelerated(steps: int, acceleration: float) -> float:
    """Several ticks in one message (a fast turn) move more than their count when accelerated."""
    magnitude = abs(steps)
    return steps * (1.0 + acceleration * (magnitude - 1)) if magnitude > 1 else float(steps)


@dataclass
class Pair14:
    """One 14-bit controller pair's state."""

    msb: int = 0
    lsb: int = 0
    lsb_first: bool | None = None    # learnt from the first half seen
    held_lsb: int | None = None      # LSB-first: waiting for its MSB

    def on_msb(self, value: int) -> int | None:
        """The MSB arrived: the 14-bit value to apply now."""
        if self.lsb_first is None:
            self.lsb_first = False
        self.msb = value
        if self.lsb_first and self.held_lsb is not None:
            self.lsb, self.held_lsb = self.held_lsb, None
        else:
            self.lsb = 0      # the specification: a new MSB resets the LSB
        return (self.msb << 7) | self.lsb

    def on_lsb(self, value: int) -> int | None:
        """The LSB arrived: the value to apply now, or None while it waits for its MSB."""
        if self.lsb_first is None:
            self.lsb_first = True
        if self.lsb_first:
            self.held_lsb = value
            return None
        self.lsb = value
        return (self.msb << 7) | self.lsb

    def flush(self) -> int | None:
        """LSB first, and no MSB came with the LSB (only the fine part moved): apply it now."""
        if self.held_lsb is None:
            return None
        self.lsb, self.held_lsb = self.held_lsb, None
        return (self.msb << 7) | self.lsb


@dataclass
class ParameterNumber:
    """(N)RPN state of one channel: which parameter is selected and its data entry."""

    kind: str = ""            # "nrpn" | "rpn" | "" (none selected, or RPN null)
    number_msb: int = 0
    number_lsb: int = 0
    data_msb: int = 0

    @property
    def number(self) -> int:
        return (self.number_msb << 7) | self.number_lsb

    def on_cc(self, controller: int, value: int) -> tuple[str, int, str, int] | None:
        """Feed one CC; returns (kind, parameter number, event, value) for a data event:
        event ``value`` (14 bits), ``increment`` or ``decrement`` (value: the steps)."""
        if controller in (NRPN_MSB, RPN_MSB):
            self.kind = "nrpn" if controller == NRPN_MSB else "rpn"
            self.number_msb = value
            return None
        if controller in (NRPN_LSB, RPN_LSB):
            self.kind = "nrpn" if controller == NRPN_LSB else "rpn"
            self.number_lsb = value
            if self.kind == "rpn" and self.number == RPN_NULL:
                self.kind = ""
            return None
        if not self.kind:
            return None
        if controller == DATA_MSB:
            self.data_msb = value
            return (self.kind, self.number, "value", value << 7)   # the LSB resets with a new MSB
        if controller == DATA_LSB:
            return (self.kind, self.number, "value", (self.data_msb << 7) | value)
        if controller in (DATA_INCREMENT, DATA_DECREMENT):
            # the data byte is unused by the specification (devices send 0, 1 or 127): one step
            return (self.kind, self.number, "increment" if controller == DATA_INCREMENT else "decrement", 1)
        return None


def is_parameter_number_cc(controller: int) -> bool:
    return controller in (NRPN_MSB, NRPN_LSB, RPN_MSB, RPN_LSB, DATA_MSB, DATA_LSB, DATA_INCREMENT, DATA_DECREMENT)
