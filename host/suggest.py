"""Did-you-mean suggestions for misspelled names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """Return the candidate closest to ``name``, or None if none is close."""
    options = list(candidates)
    matches = difflib.get_close_matches(name, options, n=1, cutoff=cutoff)
    if not matches:
        lowered = {c.lower(): c for c in options}
        matches = [lowered[m] for m in difflib.get_close_matches(name.lower(), lowered, n=1, cutoff=cutoff)]
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A phrase to append to an error message: ' (did you mean "x"?)' or the choices."""
    options = sorted(set(candidates))
    match = closest(name, options)
    if match is not None:
        return f'did you mean "{match}"?'
    if not options:
        return "nothing is available here"
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"expected one of: {shown}"
