"""OSC 1.0 address patterns, compiled to regular expressions.

The OSC 1.0 specification ("OSC Message Dispatching and Pattern Matching")
defines, for each part of an address between slashes:

* ``?`` matches any single character;
* ``*`` matches any sequence of zero or more characters;
* ``[string]`` matches any character of the string; ``-`` between two
  characters is a range, a leading ``!`` negates the set;
* ``{foo,bar}`` matches any of the comma-separated strings.

No wildcard crosses a ``/``.  Patterns are compiled once and cached (a
tablet sends the same few again and again); the cache is bounded, so a
flood of distinct patterns costs memory only up to ``CACHE_SIZE``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable

SPECIAL = frozenset("?*[]{}")
CACHE_SIZE = 512
MAX_PATTERN = 1024          # characters: longer patterns are refused before compiling


class PatternError(ValueError):
    """A malformed address pattern (an unclosed ``[`` or ``{``, a stray ``]``...)."""


def is_pattern(address: str) -> bool:
    """Does ``address`` hold any OSC wildcard?"""
    return not SPECIAL.isdisjoint(address)


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """The regex class for the ``[...]`` starting at ``start``; returns it and the index after ``]``."""
    end = pattern.find("]", start + 1)
    if end < 0:
        raise PatternError(f"unclosed '[' at character {start + 1}")
    body = pattern[start + 1:end]
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    if not body:
        raise PatternError(f"empty '[]' at character {start + 1}")
    parts = []
    i = 0
    while i < len(body):
        # OSC 1.0: a '-' between two characters is a range; at the end it is literal
        if i + 2 < len(body) and body[i + 1] == "-":
            low, high = body[i], body[i + 2]
            if low > high:
                raise PatternError(f"range '{low}-{high}' runs backwards")
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 3
        else:
            parts.append(re.escape(body[i]))
            i += 1
    # a negated set still never matches '/': no wildcard crosses a part
    return ("[^/" if negate else "[") + "".join(parts) + "]", end + 1


def _braces(pattern: str, start: int) -> tuple[str, int]:
    end = pattern.find("}", start + 1)
    if end < 0:
        raise PatternError(f"unclosed '{{' at character {start + 1}")
    words = pattern[start + 1:end].split(",")
    if any("/" in w or not SPECIAL.isdisjoint(w) for w in words):
        raise PatternError("'{a,b}' holds plain words only")
    return "(?:" + "|".join(re.escape(w) for w in words) + ")", end + 1


def translate(pattern: str) -> str:
    """The regular expression (anchored at both ends) for an OSC address pattern."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
        elif char == "{":
            text, i = _braces(pattern, i)
            out.append(text)
        elif char in "]}":
            raise PatternError(f"stray '{char}' at character {i + 1}")
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out) + r"\Z"


class Matcher:
    """Compiled patterns, cached (least recently used goes first)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._cache: OrderedDict[str, re.Pattern[str]] = OrderedDict()

    def compile(self, pattern: str) -> re.Pattern[str]:
        compiled = self._cache.get(pattern)
        if compiled is None:
            compiled = re.compile(translate(pattern))
            self._cache[pattern] = compiled
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(pattern)
        return compiled

    def match(self, pattern: str, addresses: Iterable[str]) -> list[str]:
        """The addresses ``pattern`` matches, in their order."""
        compiled = self.compile(pattern)
        return [a for a in addresses if compiled.match(a)]


def matches(pattern: str, address: str) -> bool:
    """Does the OSC pattern match ``address`` (one-off; servers use a :class:`Matcher`)?"""
    return re.match(translate(pattern), address) is not None
