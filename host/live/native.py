"""Two LLVM intrinsics the compiled JACK code shares (:mod:`.block_ring`, :mod:`.midi_inlet`).

numba has no pointer arithmetic: libjack hands out ``void *`` and mixhost keeps
addresses in int64 arrays, so :func:`pointer` turns an integer back into a
``void *`` for ``carray``.  :func:`fence` orders stores between JACK's thread
and a Python thread that share a ring (a counter is never seen before the
data it publishes).
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.extending import intrinsic


def _pointer_typing(typingctx: Any, address: Any) -> Any:
    """An integer address as a ``void *`` (numba's carray wants a pointer)."""
    signature = types.voidptr(address)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return signature, codegen


def _fence_typing(typingctx: Any) -> Any:
    """A sequentially consistent memory fence."""
    signature = types.void()

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return signature, codegen


pointer: Any = intrinsic(_pointer_typing)
fence: Any = intrinsic(_fence_typing)
