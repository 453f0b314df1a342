"""How app events leave the portal: at once, or through a queue that delays, reorders and loses them.

Bitrix24 sends events through a queue server: late, out of order, sometimes never, and with
no retries (fact sheet §2.7). ``settings.event_delivery`` picks the mode; tests get explicit
controls on top (hold, release in a chosen order, drop the next N of an event) so that each
of those cases is deterministic. Every event ends up in ``World.deliveries`` (a dropped one
marked ``dropped``).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import requests

from sandbox.models import Delivery
from sandbox.settings import QUEUE, SandboxSettings


@dataclass
class Batch:
    """The events of one portal action; ``after`` runs once each of them was sent or dropped."""

    after: Callable[[], None] | None = None
    pending: int = 0


@dataclass
class Outgoing:
    """One event POST waiting to leave."""

    url: str
    event: str
    pairs: list[tuple[str, str]]
    batch: Batch = field(default_factory=Batch)


class Dispatcher:
    def __init__(self, settings: SandboxSettings, record: Callable[[Delivery], None]) -> None:
        self.settings = settings
        self._record = record
        # What the sandbox's HTTPS client trusts: the test CA's PEM file, or True (system CAs).
        self.verify: str | bool = True
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._holding = False
        self._held: list[Outgoing] = []
        self._drops: Counter[str] = Counter()
        self._timers: set[threading.Timer] = set()
        self._rng: random.Random | None = None
        self._rng_seed: int | None = None

    # --- the portal's side ---------------------------------------------------------

    def send(self, outgoing: list[Outgoing], after: Callable[[], None] | None = None) -> list[Delivery]:
        """Hand a portal action's events to delivery; returns those finished before this returns."""
        batch = Batch(after, len(outgoing))
        finished: list[Delivery] = []
        for item in outgoing:
            item.batch = batch
            if self._take_drop(item.event):
                lost = Delivery(item.url, item.event, item.pairs, None, dropped=True)
                finished.append(self._complete(item, lost))
            elif self._hold(item):
                continue
            elif self.settings.event_delivery == QUEUE:
                self._schedule(item)
            else:
                finished.append(self._post(item))
        if not outgoing and after is not None:
            after()
        return finished

    # --- controls for tests ------------------------------------------------------------

    def hold(self) -> None:
        """Keep every event from now on until ``release``."""
        with self._lock:
            self._holding = True

    @property
    def held(self) -> list[tuple[str, str]]:
        """(event, url) of each held event, in the order the portal sent them."""
        with self._lock:
            return [(item.event, item.url) for item in self._held]

    def release(self, order: Sequence[int] | None = None) -> list[Delivery]:
        """Send held events now: all in arrival order, or the held positions in ``order`` in that
        sequence. Holding goes on (later events are held too) until none is left."""
        with self._lock:
            chosen = list(range(len(self._held))) if order is None else list(order)
            picked = [self._held[i] for i in chosen]
            self._held = [item for i, item in enumerate(self._held) if i not in chosen]
            self._holding = bool(self._held)
        return [self._post(item) for item in picked]

    def drop_next(self, event: str, count: int = 1) -> None:
        """Lose the next ``count`` deliveries of ``event`` (e.g. ``"ONAPPINSTALL"``)."""
        with self._lock:
            self._drops[event.upper()] += count

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until no queued event is waiting or in flight; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._timers, timeout)

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = set(self._timers), set()
            self._idle.notify_all()
        for timer in timers:
            timer.cancel()

    # --- inside -----------------------------------------------------------------------

    def _random(self) -> random.Random:
        seed = self.settings.event_seed
        if self._rng is None or seed != self._rng_seed:
            self._rng, self._rng_seed = random.Random(seed), seed
        return self._rng

    def _take_drop(self, event: str) -> bool:
        with self._lock:
            if self._drops[event] > 0:
                self._drops[event] -= 1
                return True
            rate = self.settings.event_drop_rate
            return rate > 0 and self._random().random() < rate

    def _hold(self, item: Outgoing) -> bool:
        with self._lock:
            if self._holding:
                self._held.append(item)
            return self._holding

    def _schedule(self, item: Outgoing) -> None:
        settings = self.settings
        with self._lock:
            jitter = self._random().uniform(0, settings.event_jitter) if settings.event_jitter > 0 else 0.0
            timer = threading.Timer(settings.event_delay + jitter, self._fire, args=(item,))
            timer.daemon = True
            self._timers.add(timer)
        timer.start()

    def _fire(self, item: Outgoing) -> None:
        try:
            self._post(item)
        finally:
            with self._lock:
                self._timers = {t for t in self._timers if t is not threading.current_thread()}
                self._idle.notify_all()

    def _post(self, item: Outgoing) -> Delivery:
        try:
            answer = requests.post(
                item.url, data=item.pairs, timeout=self.settings.event_timeout, verify=self.verify
            )
            delivery = Delivery(item.url, item.event, item.pairs, answer.status_code)
        except requests.RequestException as exc:
            delivery = Delivery(item.url, item.event, item.pairs, None, type(exc).__name__)
        return self._complete(item, delivery)

    def _complete(self, item: Outgoing, delivery: Delivery) -> Delivery:
        self._record(delivery)
        with self._lock:
            item.batch.pending -= 1
            done = item.batch.pending == 0
        if done and item.batch.after is not None:
            item.batch.after()
        return delivery
