"""A component loaded on first use, once, thread-safely, with a pause before retrying after a failure.

The service must answer even while a part is missing: a failed load is remembered for ``retry_after_s`` so that
every request does not pay for the failure again, and is retried after that (a model trained later, a cluster
that came back)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from core.errors import ComponentUnavailable

T = TypeVar("T")


class Lazy(Generic[T]):
    """Holds one component, building it with ``factory`` the first time :meth:`get` is called."""

    def __init__(self, name: str, factory: Callable[[], T], retry_after_s: float = 30.0):
        self.name = name
        self._factory = factory
        self._retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded = False
        self._error: str | None = None
        self._failure: BaseException | None = None
        self._failed_at = 0.0

    @classmethod
    def ready(cls, name: str, value: T) -> Lazy[T]:
        """An already-built component (tests pass fakes this way)."""
        lazy: Lazy[T] = cls(name, lambda: value)
        lazy.set(value)
        return lazy

    def get(self) -> T:
        """The component; raises :class:`ComponentUnavailable` when it cannot be loaded."""
        if self._loaded:
            return self._value  # type: ignore[return-value]
        with self._lock:
            if self._loaded:
                return self._value  # type: ignore[return-value]
            if self._error and time.monotonic() - self._failed_at < self._retry_after_s:
                raise ComponentUnavailable(self.name, self._error)
            try:
                value = self._factory()
            except Exception as e:  # any failure of a part must not take the service down
                self._error = (str(e).splitlines() or [type(e).__name__])[0] or type(e).__name__
                self._failure, self._failed_at = e, time.monotonic()
                raise ComponentUnavailable(self.name, self._error) from e
            self._value, self._loaded, self._error, self._failure = value, True, None, None
            return value

    def set(self, value: T) -> None:
        """Replace the component (a new model version, a reloaded vector table)."""
        with self._lock:
            self._value, self._loaded, self._error = value, True, None

    def reset(self) -> None:
        """Forget the component; the next :meth:`get` loads it again."""
        with self._lock:
            self._value, self._loaded, self._error, self._failure = None, False, None, None

    @property
    def failure(self) -> BaseException | None:
        """What the last failed load raised (None when loaded or never tried): its type gives /readyz's reason."""
        return None if self._loaded else self._failure

    @property
    def state(self) -> str:
        """``ready``, ``not_loaded`` or ``failed: <reason>``."""
        if self._loaded:
            return "ready"
        return f"failed: {self._error}" if self._error else "not_loaded"
