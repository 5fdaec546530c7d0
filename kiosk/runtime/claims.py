"""Claim, then verify: a door that first learns who someone says they are (a card, a code), then checks
the face against that one person's templates (1:1), whatever the size of the gallery.

The door works on one claim at a time. A claim waits `window_s` for its face; the visit's decision
(granted, denied, not that person, spoof) uses it up. A code is seen in every frame while it is held
up: the same code seen again straight after its claim was used or refused is ignored for one window.
A card read is one deliberate act: each read is a claim (the same card in another hand moments
later is checked against the new face).
"""

import threading
import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Claim:
    source: str            # "card" or "code"
    label: str             # what was shown (the card, the code's text): tells one showing from the next
    person_id: str | None  # who it names; None: nobody this door knows
    refused: str = ""      # why it cannot be used (an unknown card, an expired or forged code)
    at: float = 0.0        # time.monotonic() when it was presented


@dataclass(frozen=True)
class ClaimUpdate:
    new: Claim | None = None      # presented since the last poll: audit it, start its check
    expired: Claim | None = None  # its window ran out without a decision
    active: Claim | None = None   # the claim the door checks faces against now


class ClaimDesk:
    """Claims come from reader threads and the frame loop; the decide loop polls them."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._lock = threading.Lock()
        self._active: Claim | None = None
        self._announced = False
        self._recent: dict[str, float] = {}  # label -> when its claim ended

    def present(self, claim: Claim, seen_continuously: bool = False) -> bool:
        """A claim replaces the one waiting (someone else stepped up with a card); False when it is the
        claim being checked, or (`seen_continuously`: a code in view) one that just ended, seen again."""
        now = time.monotonic()
        with self._lock:
            if self._active is not None and self._active.label == claim.label:
                return False
            if seen_continuously and now - self._recent.get(claim.label, -self.window_s) < self.window_s:
                return False
            self._active, self._announced = replace(claim, at=now), False
            return True

    def accepting(self) -> bool:
        """No claim is being checked: worth looking for one (a QR code) in the frame."""
        with self._lock:
            return self._active is None

    def current(self) -> Claim | None:
        with self._lock:
            return self._active

    def poll(self) -> ClaimUpdate:
        now = time.monotonic()
        with self._lock:
            claim = self._active
            if claim is None:
                return ClaimUpdate()
            if not self._announced:
                self._announced = True
                return ClaimUpdate(new=claim, active=claim)
            if now - claim.at > self.window_s:
                self._end(claim, now)
                return ClaimUpdate(expired=claim)
            return ClaimUpdate(active=claim)

    def used(self, claim: Claim) -> None:
        """The claim's visit was decided (or the claim refused): the door waits for the next one."""
        with self._lock:
            if self._active is not None and self._active.label == claim.label:
                self._end(claim, time.monotonic())

    def _end(self, claim: Claim, now: float) -> None:
        self._active = None
        self._recent = {label: at for label, at in self._recent.items() if now - at < self.window_s}
        self._recent[claim.label] = now
