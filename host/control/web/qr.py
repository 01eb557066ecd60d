"""The browser mixer's URL as a QR code in the terminal, for a tablet's camera (segno)."""

from __future__ import annotations

import io

import segno


def terminal_qr(url: str) -> str:
    """The QR code of ``url`` drawn with block characters (two rows of modules per line)."""
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()
