"""The bounded block queue: both back-pressure policies, markers never dropped."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from anyppg.sdk.queues import BlockQueue
from anyppg.sdk.samples import SampleBlock

MARK = object()


def _block(i: int) -> SampleBlock:
    return SampleBlock(float(i), 1.0, np.zeros(1), seq=i)


def test_drop_oldest_drops_blocks_not_markers():
    async def main():
        q = BlockQueue(2, "drop_oldest")
        assert await q.put(_block(0)) == []
        await q.put(MARK)
        await q.put(_block(1))
        dropped = await q.put(_block(2))
        items = [await q.get() for _ in range(len(q))]
        return dropped, items

    dropped, items = asyncio.run(main())
    assert [b.seq for b in dropped] == [0]
    assert items[0] is MARK and [b.seq for b in items[1:]] == [1, 2]


def test_block_policy_waits_for_the_consumer():
    async def main():
        q = BlockQueue(1, "block")
        await q.put(_block(0))
        producer = asyncio.create_task(q.put(_block(1)))
        await asyncio.sleep(0.01)
        assert not producer.done()  # full: the producer waits
        first = await q.get()
        assert await producer == []
        return first, await q.get()

    first, second = asyncio.run(main())
    assert (first.seq, second.seq) == (0, 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="capacity"):
        BlockQueue(0, "block")
    with pytest.raises(ValueError, match="policy"):
        BlockQueue(4, "drop_newest")  # type: ignore[arg-type]
