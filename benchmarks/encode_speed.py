"""Encoding speed: records per second for the default schema, with clkhash side by side.

    python -m benchmarks.encode_speed --people 1000000 --repeats 3

Encodes the health extract of a synthetic cohort (in memory, and from CSV through
``linkage encode``'s reader) with the example agreement's schema: field-level filters, a
1024-bit record-level filter and the keyed blocking tokens. When clkhash is installed it
encodes a sample of the same records with an equivalent schema (same fields, bigrams, a
1024-bit CLK), on one worker, in the same process. Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from linkage.encoding import BloomFilterEncoder, ProjectKey
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort
from linkage.tables import read_table

FIELDS = ("given_name", "family_name", "date_of_birth", "sex", "postcode", "nhs_number")


def clkhash_rate(frame, sample: int, repeats: int) -> float | None:  # type: ignore[no-untyped-def]
    try:
        from clkhash import clk
        from clkhash.schema import from_json_dict
    except ImportError:
        return None

    def feature(name: str, comparison: dict[str, object], bits: int) -> dict[str, object]:
        return {"identifier": name, "format": {"type": "string", "encoding": "utf-8"},
                "hashing": {"comparison": comparison, "strategy": {"bitsPerToken": bits},
                            "hash": {"type": "doubleHash"}}}

    bigram = {"type": "ngram", "n": 2}
    schema = from_json_dict({
        "version": 3,
        "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64}},
        "features": [feature("given_name", bigram, 10), feature("family_name", bigram, 10),
                     feature("date_of_birth", {"type": "ngram", "n": 1, "positional": True},
                             12),
                     feature("sex", {"type": "exact"}, 4), feature("postcode", bigram, 6),
                     feature("nhs_number", {"type": "exact"}, 8)]})
    rows = frame[list(FIELDS)].head(sample).astype(str).values.tolist()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        clk.generate_clks(rows, schema, "secret", validate=False, max_workers=1)
        times.append(time.perf_counter() - start)
    return len(rows) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clkhash-sample", type=int, default=20_000)
    args = parser.parse_args()
    cohort = generate_cohort(CohortConfig(people=args.people, seed=1))
    frame = cohort.extracts["health"]
    loaded = load_agreement("protocols/first-1000-days/agreement.yaml")
    encoder = BloomFilterEncoder(loaded.agreement.encoding, ProjectKey.generate())
    encoder.encode(frame.head(1000))
    in_memory, from_csv = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "health.csv"
        frame.to_csv(path, index=False)
        for _ in range(args.repeats):
            start = time.perf_counter()
            encoder.encode(frame)
            in_memory.append(time.perf_counter() - start)
            start = time.perf_counter()
            encoder.encode(read_table(path, ["record_id"]))
            from_csv.append(time.perf_counter() - start)
    ours = len(frame) / statistics.median(in_memory)
    other = clkhash_rate(frame, args.clkhash_sample, args.repeats)
    print(json.dumps({
        "records": len(frame), "repeats": args.repeats,
        "ours_records_per_s_in_memory": round(ours),
        "ours_records_per_s_from_csv": round(len(frame) / statistics.median(from_csv)),
        "clkhash_records_per_s_one_worker": round(other) if other else None,
        "ratio_in_memory": round(ours / other, 1) if other else None}, indent=2))


if __name__ == "__main__":
    main()
