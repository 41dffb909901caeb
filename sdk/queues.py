"""The bounded queue between a transport and the pipeline, with an explicit back-pressure policy."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Literal

from anyppg.sdk.samples import SampleBlock

__all__ = ["Backpressure", "BlockQueue"]

Backpressure = Literal["block", "drop_oldest"]
"""What happens when the consumer falls behind and the queue is full: ``block`` makes the producer wait
(files, simulations: nothing is lost, the source slows down); ``drop_oldest`` discards the oldest queued
sample block (live devices cannot be slowed down: the freshest data is kept)."""


class BlockQueue:
    """A FIFO of sample blocks and markers holding at most ``capacity`` blocks.

    Markers (any non-:class:`SampleBlock` item) are never dropped and do not count toward capacity.

    Args:
        capacity: most sample blocks held.
        policy: see :data:`Backpressure`.
    """

    def __init__(self, capacity: int, policy: Backpressure) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if policy not in ("block", "drop_oldest"):
            raise ValueError(f"policy must be 'block' or 'drop_oldest', got {policy!r}")
        self.capacity = capacity
        self.policy = policy
        self._items: deque[Any] = deque()
        self._blocks = 0
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: Any) -> list[SampleBlock]:
        """Append ``item``; returns the blocks dropped to make room (``drop_oldest`` only)."""
        dropped: list[SampleBlock] = []
        if isinstance(item, SampleBlock):
            while self._blocks >= self.capacity:
                if self.policy == "block":
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                dropped.append(self._remove_oldest_block())
            self._blocks += 1
        self._items.append(item)
        self._changed.set()
        return dropped

    async def get(self) -> Any:
        """Remove and return the oldest item, waiting for one."""
        while not self._items:
            self._changed.clear()
            await self._changed.wait()
        item = self._items.popleft()
        if isinstance(item, SampleBlock):
            self._blocks -= 1
        self._changed.set()
        return item

    def drain(self) -> list[Any]:
        """Remove and return every queued item, oldest first, without waiting (a waiting producer
        is woken: the queue has room again)."""
        items = list(self._items)
        self._items.clear()
        self._blocks = 0
        self._changed.set()
        return items

    def _remove_oldest_block(self) -> SampleBlock:
        for i, item in enumerate(self._items):
            if isinstance(item, SampleBlock):
                del self._items[i]
                self._blocks -= 1
                return item
        raise AssertionError("queue full of blocks but none found")  # pragma: no cover
