"""The bucket stage drops the pages of the memory-mapped verification data it
read (``relieve_maps``) so its RSS does not grow with the corpus; the verdicts
must be those of a run that keeps them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curagate import _core


def test_relieving_the_maps_changes_no_verdict(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    groups = 3000
    base = np.sort(rng.choice(1 << 30, 400, replace=False)).astype("<u4")
    sets = []
    for g in range(groups):
        # Near copies of one set (half above a 0.5 Jaccard, half below) and noise.
        keep = rng.random(len(base)) < (0.9 if g % 2 else 0.4)
        extra = rng.choice(1 << 30, 40, replace=False).astype("<u4")
        sets.append(np.unique(np.concatenate([base[keep], extra])).astype("<u4"))
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype("<u8")
    (tmp_path / "data.bin").write_bytes(np.concatenate(sets).tobytes())
    (tmp_path / "offsets.bin").write_bytes(offsets.tobytes())
    data = np.memmap(tmp_path / "data.bin", dtype="<u4", mode="r")
    offs = np.memmap(tmp_path / "offsets.bin", dtype="<u8", mode="r")
    a = rng.integers(0, groups - 1, 6000)
    b = np.minimum(a + rng.integers(1, 50, 6000), groups - 1)
    pairs = np.unique(np.stack([a, b], axis=1)[a < b], axis=0).astype("<u4").ravel()
    kwargs = {
        "verify": "exact",
        "words_per_value": 1,
        "threshold": 0.5,
        "threads": 2,
    }
    # Group arrays in memory (anonymous: must never be advised, it would zero
    # them) and as file maps (as the bucket stage passes them).
    shard_of, local = np.zeros(groups, "<u4"), np.arange(groups, dtype="<u4")
    np.save(tmp_path / "shard.npy", shard_of)
    np.save(tmp_path / "local.npy", local)
    mapped = (
        np.load(tmp_path / "shard.npy", mmap_mode="r"),
        np.load(tmp_path / "local.npy", mmap_mode="r"),
    )
    kept = _core.dedup_verify_pairs(pairs, shard_of, local, [offs], [data], **kwargs)  # type: ignore[arg-type]
    assert len(pairs) // 2 > 2 * 512  # several relief slices
    assert {0, 1} <= set(np.frombuffer(kept, dtype=np.uint8).tolist())
    for group_arrays in ((shard_of, local), mapped):
        relieved = _core.dedup_verify_pairs(
            pairs,
            *group_arrays,
            [offs],
            [data],
            relieve_maps=True,
            **kwargs,  # type: ignore[arg-type]
        )
        assert relieved == kept
    # Every buffer is intact afterwards: the in-memory ones were left alone, the
    # mapped ones fault back in from their files.
    assert np.array_equal(local, np.arange(groups))
    assert np.array_equal(np.asarray(mapped[1]), np.arange(groups))
    assert np.array_equal(np.asarray(data[: len(sets[0])]), sets[0])
