"""Optional extras (``pip install 'mixhost[NAME]'``): checked when a feature needs one.

A missing extra is the user's to fix with one command, so it is a
:class:`~host.errors.MissingExtraError` (exit 2) that names that command,
raised before any work is done, never an ImportError traceback.
"""

from __future__ import annotations

import importlib

from .errors import MissingExtraError

# extra -> (the module to import, the distribution that provides it)
EXTRAS: dict[str, tuple[str, str]] = {
    "plots": ("matplotlib", "matplotlib"),
}


def require(extra: str, feature: str) -> None:
    """Make sure ``extra`` is installed, for ``feature`` (words for the message: "--html reports")."""
    module, distribution = EXTRAS[extra]
    try:
        importlib.import_module(module)  # a real import: a broken install is caught here too
    except ImportError as error:
        raise MissingExtraError(
            f"{feature} need {distribution}, which is not installed here ({error})",
            hint=f"pip install 'mixhost[{extra}]' (or, in a checkout, `make demo`, which installs it)",
        ) from None
