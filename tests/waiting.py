"""Waiting in tests: poll a condition until it holds, or fail naming what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition", *,
             poll_s: float = 0.002) -> Any:
    """The first truthy value of ``condition()``; an assertion error after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll_s)
