"""All-pairs 1024-bit Dice throughput, with anonlink's C++ kernel side by side.

    python -m benchmarks.kernel_speed --left 4000 --right 200000 --repeats 5

Filters are random with a fill of 30% (typical record-level CLKs). Our kernel uses every
core (numba prange); anonlink's ``dice_coefficient_accelerated`` runs on one. Prints the
median pairs per second of each and their ratio, measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from linkage.matching import dice_above
from linkage.matching.kernels import warm_up


def random_filters(rows: int, rng: np.random.Generator, fill: float = 0.3) -> np.ndarray:
    bits = rng.random((rows, 1024)) < fill
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def ours(a: np.ndarray, b: np.ndarray, threshold: float, repeats: int) -> float:
    warm_up()
    dice_above(a[:10], b[:10], threshold)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dice_above(a, b, threshold)
        times.append(time.perf_counter() - start)
    return len(a) * len(b) / statistics.median(times)


def anonlink_rate(a: np.ndarray, b: np.ndarray, threshold: float, repeats: int) -> float | None:
    try:
        from anonlink.similarities import dice_coefficient_accelerated
        from bitarray import bitarray
    except ImportError:
        return None

    def to_bitarrays(filters: np.ndarray) -> list[bitarray]:
        out = []
        for row in filters:
            ba = bitarray(endian="little")
            ba.frombytes(row.astype("<u8").tobytes())
            out.append(ba)
        return out

    da, db = to_bitarrays(a), to_bitarrays(b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dice_coefficient_accelerated((da, db), threshold)
        times.append(time.perf_counter() - start)
    return len(a) * len(b) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--left", type=int, default=4000)
    parser.add_argument("--right", type=int, default=200_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a, b = random_filters(args.left, rng), random_filters(args.right, rng)
    rate = ours(a, b, args.threshold, args.repeats)
    other = anonlink_rate(a[: max(1, args.left // 4)], b, args.threshold, args.repeats)
    result = {"pairs": args.left * args.right, "threshold": args.threshold,
              "cores": os.cpu_count(), "ours_pairs_per_s": round(rate),
              "anonlink_pairs_per_s": round(other) if other else None,
              "ratio": round(rate / other, 2) if other else None}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
