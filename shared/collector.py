"""Pausing Python's cyclic garbage collector around a large pure computation.

A solve creates a million short-lived objects (candidate pairs, allocations) while the
book it reads stays alive. Each allocation burst triggers collections, and every
third-generation one walks the whole live heap — the book included — again and again: at
100k open items that was half of a full solve's time. Nothing a solve creates forms a
reference cycle that must be freed early (its objects are freed by reference counting as
soon as the solve drops them), so the collector is paused while one runs and resumes after.

Pauses nest and may overlap between threads: the collector resumes when the last one ends,
and only if it was running when the first began.
"""

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

__all__ = ["collection_paused", "pausing_collection"]

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic collector paused for the duration of the block."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def pausing_collection(function: Callable[P, T]) -> Callable[P, T]:
    """``function`` run with the cyclic collector paused."""

    @wraps(function)
    def paused(*args: P.args, **kwargs: P.kwargs) -> T:
        with collection_paused():
            return function(*args, **kwargs)

    return paused
