"""Sharding of the sampling order over ranks: blocks of each global batch."""

from itertools import islice

import pytest

from waifugan.data.sampler import InfiniteSampler


def _global_order(size: int, world: int, batch: int, steps: int, start: int = 0) -> list[int]:
    """Interleave the ranks' streams block by block, as the step's chunks are ordered."""
    share = batch // world
    streams = [
        iter(InfiniteSampler(size, seed=5, rank=r, world_size=world, start=start, batch=batch))
        for r in range(world)
    ]
    order: list[int] = []
    for _ in range(steps):
        for stream in streams:
            order += list(islice(stream, share))
    return order


@pytest.mark.parametrize(("size", "world", "batch"), [(10, 2, 8), (12, 3, 6), (7, 4, 4)])
def test_ranks_cover_every_image_exactly_once_per_epoch(size, world, batch):
    steps = 3 * size // batch + 2  # three epochs and more, epochs ending mid-batch
    order = _global_order(size, world, batch, steps)
    for epoch in range(3):
        assert sorted(order[epoch * size : (epoch + 1) * size]) == list(range(size)), epoch
    # Each rank's part of an epoch is disjoint from the others' (a permutation has no repeat),
    # and the order is the one a single process reads: the rank count does not change it.
    single = list(islice(InfiniteSampler(size, seed=5, batch=batch), len(order)))
    assert order == single


def test_rank_shards_are_deterministic_and_resume_at_a_position():
    order = _global_order(10, 2, 8, steps=5)
    assert order == _global_order(10, 2, 8, steps=5)
    assert _global_order(10, 2, 8, steps=3, start=16) == order[16:40]


def test_default_batch_keeps_the_interleaved_layout():
    full = list(islice(InfiniteSampler(10, seed=3), 10))
    rank1 = list(islice(InfiniteSampler(10, seed=3, rank=1, world_size=2), 5))
    assert rank1 == full[1:10:2]


def test_a_batch_that_the_ranks_cannot_share_is_refused():
    with pytest.raises(ValueError, match="not divisible by 3"):
        InfiniteSampler(10, rank=0, world_size=3, batch=8)
