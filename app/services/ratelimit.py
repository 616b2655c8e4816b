"""Per-key rate limits over fixed, clock-aligned windows, counted in `limits` storage.

`limits` parses the policy ("100/second;6000/minute") and opens the storage
its URL names (memory://, redis://, rediss://, redis+sentinel://...). Its
strategies answer only "allowed or not", while the RateLimit header needs
the remaining quota and the reset time: keying each window by its start on
the clock gives both from the count itself. A shared count costs a round
trip, so processes lease units from it (RateLimiter).
"""
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from limits import parse_many
from limits.storage import RedisStorage, storage_from_string

log = logging.getLogger("ar_ingest.ratelimit")

_WINDOW_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


@dataclass(frozen=True)
class Window:
    """One quota: `quota` units per `seconds`, named for the headers."""

    name: str
    quota: int
    seconds: int


class WindowState(NamedTuple):
    window: Window
    remaining: int
    reset: int       # seconds until the window starts afresh


class Decision(NamedTuple):
    """The outcome of one hit: allowed or not, each window's state, or unknown (fail open)."""

    allowed: bool
    states: tuple = ()
    retry_after: int = 0
    unknown: bool = False


UNKNOWN = Decision(True, unknown=True)


class _Lease:
    """Units of one key's window that this process took from the shared count."""

    __slots__ = ("start", "units", "total")

    def __init__(self, start):
        self.start, self.units, self.total = start, 0, 0  # total: the shared count seen last


class RateLimiter:
    """Counts each API key's units in every window of the policy.

    A process takes units from the shared count in leases of 1/`lease_divisor`
    of the window's quota (at least 1) and spends them locally, so it meets
    the storage once per lease, not once per request. Leases are cut to what
    is left, so never more than the quota passes; below 2 x `lease_divisor`
    per window a lease is one unit and counting is exact per request. A lease
    a process does not use up is lost with its window (at most one per
    process, 0.1% of the quota by default).
    """

    def __init__(self, policy, storage_url, lease_divisor=1000, retry_storage_after=1.0,
                 clock=time.time):
        self.windows = tuple(self._window(item) for item in parse_many(policy))
        # A request costs at most the smallest quota: one that cost more could never pass.
        self.largest_cost = min(window.quota for window in self.windows)
        self.lease_sizes = tuple(max(1, window.quota // lease_divisor) for window in self.windows)
        options = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25} \
            if storage_url.startswith(("redis://", "rediss://", "redis+")) else {}
        self.storage = storage_from_string(storage_url, **options)
        self._redis = self.storage.get_connection() if isinstance(self.storage, RedisStorage) \
            else None
        self.retry_storage_after = retry_storage_after
        self.clock = clock
        self._storage_down_until = 0.0
        self._leases = {}
        self._lock = threading.Lock()
        self.policy_header = ", ".join(f'"{w.name}";q={w.quota};w={w.seconds}'
                                       for w in self.windows)

    @staticmethod
    def _window(item):
        seconds = int(item.get_expiry())
        name = _WINDOW_NAMES.get(seconds, f"{seconds}s")
        return Window(name, int(item.amount), seconds)

    def _current_leases(self, key_id, starts):
        """This process's lease of each window for the key (new ones when a window turned)."""
        leases = self._leases.get(key_id)
        if leases is None:
            if len(self._leases) > 100_000:  # keys gone quiet: forget them all at once
                self._leases.clear()
            leases = self._leases[key_id] = [_Lease(start) for start in starts]
        for index, start in enumerate(starts):
            if leases[index].start != start:
                leases[index] = _Lease(start)
        return leases

    def hit(self, key_id, cost=1):
        """Spend `cost` units of the key (at most the smallest quota); a storage that fails lets
        the request through."""
        cost = min(cost, self.largest_cost)
        now = self.clock()
        if self._storage_down_until and time.monotonic() < self._storage_down_until:
            return UNKNOWN
        starts = [now // window.seconds * window.seconds for window in self.windows]
        with self._lock:
            leases = self._current_leases(key_id, starts)
            short = [index for index, lease in enumerate(leases) if lease.units < cost]
            if not short:
                return self._spend(leases, starts, now, cost)
        sizes = [max(cost, self.lease_sizes[index]) for index in short]
        keys = [f"ar-ingest:{key_id}:{self.windows[index].seconds}:{int(starts[index])}"
                for index in short]
        try:
            totals = self._increment(keys, [self.windows[i].seconds for i in short], sizes)
        except Exception as error:  # Redis unreachable, timed out, refused...
            self._storage_down_until = time.monotonic() + self.retry_storage_after
            log.warning("rate-limit storage failed; serving without limits",
                        extra={"error": type(error).__name__})
            return UNKNOWN
        self._storage_down_until = 0.0
        with self._lock:
            for index, size, total in zip(short, sizes, totals):
                quota = self.windows[index].quota
                leases[index].units += max(0, min(size, quota - (total - size)))
                leases[index].total = total
            return self._spend(leases, starts, now, cost)

    def _spend(self, leases, starts, now, cost):
        """Take `cost` from every lease if each has it (caller holds the lock)."""
        allowed = all(lease.units >= cost for lease in leases)
        states, retry_after = [], 0
        for window, start, lease in zip(self.windows, starts, leases):
            if allowed:
                lease.units -= cost
            reset = max(1, math.ceil(start + window.seconds - now))
            states.append(WindowState(window, max(0, window.quota - lease.total) + lease.units,
                                      reset))
            if not allowed and lease.units < cost:
                retry_after = max(retry_after, reset)
        return Decision(allowed, tuple(states), retry_after)

    def _increment(self, keys, expiries, amounts):
        """Add each amount to its window's shared count; the new counts, in order.

        On Redis every window goes in one pipelined round trip (INCRBY, then
        EXPIRE NX: Redis 7 or newer).
        """
        if self._redis is None:
            return [self.storage.incr(key, expiry, amount=amount)
                    for key, expiry, amount in zip(keys, expiries, amounts)]
        pipeline = self._redis.pipeline(transaction=False)
        for key, expiry, amount in zip(keys, expiries, amounts):
            pipeline.incrby(key, amount)
            pipeline.expire(key, expiry, nx=True)
        return pipeline.execute()[::2]

    @staticmethod
    def state_header(decision):
        """The RateLimit field for a decision (draft-ietf-httpapi-ratelimit-headers)."""
        return ", ".join(f'"{s.window.name}";r={s.remaining};t={s.reset}'
                         for s in decision.states)
