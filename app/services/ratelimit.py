"""Per-key rate limits over fixed, clock-aligned windows, counted in `limits` storage.

`limits` parses the policy ("100/second;6000/minute") and counts atomically
in memory or Redis (INCR and EXPIRE in one Lua call). Its strategies answer
only "allowed or not", while the RateLimit header needs the remaining quota
and the reset time: keying each window by its start on the clock gives both
from the one increment, so a request costs one storage round trip per window.
"""
import logging
import math
import time
from dataclasses import dataclass

from limits import parse_many
from limits.storage import storage_from_string

log = logging.getLogger("ar_ingest.ratelimit")

_WINDOW_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


@dataclass(frozen=True)
class Window:
    """One quota: `quota` units per `seconds`, named for the headers."""

    name: str
    quota: int
    seconds: int


@dataclass(frozen=True)
class WindowState:
    window: Window
    remaining: int
    reset: int       # seconds until the window starts afresh


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit: allowed or not, each window's state, or unknown (fail open)."""

    allowed: bool
    states: tuple = ()
    retry_after: int = 0
    unknown: bool = False


class RateLimiter:
    """Counts each API key's units in every window of the policy."""

    def __init__(self, policy, storage_url, retry_storage_after=1.0, clock=time.time):
        self.windows = tuple(self._window(item) for item in parse_many(policy))
        options = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25} \
            if storage_url.startswith(("redis://", "rediss://", "redis+")) else {}
        self.storage = storage_from_string(storage_url, **options)
        self.retry_storage_after = retry_storage_after
        self.clock = clock
        self._storage_down_until = 0.0
        self.policy_header = ", ".join(f'"{w.name}";q={w.quota};w={w.seconds}'
                                       for w in self.windows)

    @staticmethod
    def _window(item):
        seconds = int(item.get_expiry())
        name = _WINDOW_NAMES.get(seconds, f"{seconds}s")
        return Window(name, int(item.amount), seconds)

    def hit(self, key_id, cost=1):
        """Spend `cost` units of the key; a storage that fails lets the request through."""
        now = self.clock()
        if time.monotonic() < self._storage_down_until:
            return Decision(True, unknown=True)
        states, allowed, retry_after = [], True, 0
        try:
            for window in self.windows:
                start = math.floor(now / window.seconds) * window.seconds
                used = self.storage.incr(f"ar-ingest:{key_id}:{window.seconds}:{start}",
                                         window.seconds, amount=cost)
                reset = max(1, math.ceil(start + window.seconds - now))
                states.append(WindowState(window, max(0, window.quota - used), reset))
                if used > window.quota:
                    allowed, retry_after = False, max(retry_after, reset)
        except Exception as error:  # Redis unreachable, timed out, refused...
            self._storage_down_until = time.monotonic() + self.retry_storage_after
            log.warning("rate-limit storage failed; serving without limits",
                        extra={"error": type(error).__name__})
            return Decision(True, unknown=True)
        return Decision(allowed, tuple(states), retry_after)

    @staticmethod
    def state_header(decision):
        """The RateLimit field for a decision (draft-ietf-httpapi-ratelimit-headers)."""
        return ", ".join(f'"{s.window.name}";r={s.remaining};t={s.reset}'
                         for s in decision.states)
