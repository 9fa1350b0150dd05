"""The detectors of every series, one bank per signal: a step of a query advances its bank at once.

A series stays in the bank of the signal it was first seen under (a key seen again under another
signal is advanced there), so that one sample at a time and whole batches give the same detections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from detectors import Detection, SeriesBank

from .events import SampleBatch

__all__ = ["BankFactory", "SeriesDetectors"]

BankFactory = Callable[[str], SeriesBank]


class SeriesDetectors:
    """Series key -> its signal's bank; advancing, checkpointing and moving series between replicas."""

    def __init__(self, bank_factory: BankFactory) -> None:
        self.bank_factory = bank_factory
        self.banks: dict[str, SeriesBank] = {}  # per signal
        self.signals: dict[str, str] = {}       # series key -> the signal whose bank holds it

    def bank(self, signal: str) -> SeriesBank:
        bank = self.banks.get(signal)
        if bank is None:
            bank = self.banks[signal] = self.bank_factory(signal)
        return bank

    def update_one(self, key: str, signal: str, ts: float, value: float) -> Detection | None:
        return self.bank(self.signals.setdefault(key, signal)).update_one(key, ts, value)

    def update_batch(self, b: SampleBatch) -> list[tuple[int, Detection]]:
        """Advance the batch's series: ``(position in the batch, detection)`` in the batch's order."""
        sig, signals = b.signal, self.signals
        elsewhere = [i for i, k in enumerate(b.keys) if signals.setdefault(k, sig) != sig]
        if not elsewhere:
            return self.bank(sig).update(b.ts, b.keys, b.values)
        # Series first seen under another signal stay in that signal's bank (as one at a time).
        other = set(elsewhere)
        here = [i for i in range(len(b)) if i not in other]
        found = [(here[j], d) for j, d in self.bank(sig).update(
            b.ts, [b.keys[i] for i in here], [b.values[i] for i in here])]
        for i in elsewhere:
            d = self.bank(signals[b.keys[i]]).update_one(b.keys[i], b.ts, b.values[i])
            if d is not None:
                found.append((i, d))
        found.sort(key=lambda p: p[0])
        return found

    def keys(self) -> list[str]:
        return list(self.signals)

    def state(self, key: str) -> tuple[str, dict[str, Any]]:
        """``(signal, detector state)`` of one series, for a per-series checkpoint."""
        sig = self.signals[key]
        return sig, self.banks[sig].state(key)

    def load(self, key: str, signal: str, state: dict[str, Any]) -> None:
        """Resume one series' detector from its checkpoint (a shard taken over stays warm)."""
        self.bank(signal).load(key, state)  # raises on a bad state before anything changes
        old = self.signals.get(key)
        if old is not None and old != signal:
            self.banks[old].drop(key)
        self.signals[key] = signal

    def drop(self, key: str) -> None:
        """Forget a series (its shard moved to another replica)."""
        sig = self.signals.pop(key, None)
        if sig is not None:
            self.banks[sig].drop(key)

    def state_dict(self) -> dict[str, Any]:
        """Each signal's bank whole (numpy rows as bytes for a vectorised one)."""
        return {sig: bank.state_dict() for sig, bank in self.banks.items()}

    def load_state(self, version: int, state: dict[str, Any]) -> None:
        """Restore every bank: version 2 holds whole banks (``banks``); version 1 (older releases)
        one detector state per series (``detectors``). Nothing changes if a state is bad."""
        banks: dict[str, SeriesBank] = {}
        signals: dict[str, str] = {}
        if version == 2:
            for sig, bank_state in state["banks"].items():
                bank = banks[sig] = self.bank_factory(sig)
                bank.load_state(bank_state)
                signals.update((k, sig) for k in bank.keys())
        else:
            for key, entry in state["detectors"].items():
                sig = entry["signal"]
                if sig not in banks:
                    banks[sig] = self.bank_factory(sig)
                banks[sig].load(key, entry["state"])
                signals[key] = sig
        self.banks, self.signals = banks, signals
