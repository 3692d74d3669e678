"""The datasketch modes are bit-identical to datasketch; datasketch is the oracle."""

from __future__ import annotations

import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from curagate import _core
from tests.curate.conftest import t0_records

SCHEMES = {
    "datasketch-legacy": "legacy",
    "datasketch-affine32": "affine32",
    "datasketch-affine64": "affine64",
}


def shingle_sets() -> list[list[bytes]]:
    out = []
    for r in t0_records(40):
        text = _core.normalize(r["prompt"] + "\n" + r["completion"])
        out.append([s.encode() for s in _core.shingles(text, ngram=5)])
    out.append([b"one shingle"])
    return out


@pytest.mark.parametrize("ours,theirs", sorted(SCHEMES.items()))
@pytest.mark.parametrize("seed,num_perm", [(1, 128), (42, 64), (7, 256)])
def test_signatures_match_datasketch_bit_for_bit(
    ours: str, theirs: str, seed: int, num_perm: int
) -> None:
    for shingles in shingle_sets():
        m = MinHash(num_perm=num_perm, seed=seed, scheme=theirs)
        for s in shingles:
            m.update(s)
        assert _core.minhash(shingles, num_perm=num_perm, seed=seed, hash=ours) == [
            int(v) for v in m.hashvalues
        ]


def test_datasketch_alias_is_datasketch_default_scheme() -> None:
    shingles = [b"a b", b"b c", b"c d"]
    m = MinHash(num_perm=32, seed=3)  # datasketch 2.0 default: affine32
    for s in shingles:
        m.update(s)
    assert _core.minhash(shingles, num_perm=32, seed=3, hash="datasketch") == [
        int(v) for v in m.hashvalues
    ]


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_band_choice_matches_datasketch(threshold: float, num_perm: int) -> None:
    assert _core.optimal_params(threshold, num_perm) == _optimal_param(
        threshold, num_perm, 0.5, 0.5
    )


def test_weighted_band_choice_matches_datasketch() -> None:
    assert _core.optimal_params(0.7, 128, 0.2, 0.8) == _optimal_param(0.7, 128, 0.2, 0.8)


def test_fast_scheme_is_a_pure_function_of_the_set() -> None:
    a = _core.minhash([b"x", b"y", b"z"], hash="fast")
    b = _core.minhash([b"z", b"x", b"y", b"x"], hash="fast")
    assert a == b
    assert a != _core.minhash([b"x", b"y"], hash="fast")


def test_unknown_scheme_names_the_options() -> None:
    with pytest.raises(_core.ParameterError, match="datasketch-legacy"):
        _core.minhash([b"x"], hash="md5")
