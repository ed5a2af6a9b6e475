"""How well a schema resists the four attacks, measured on a synthetic reference cohort.

:func:`assess_schema` plays a curious linkage unit against a synthetic health extract encoded
under the schema, with full-overlap public knowledge: the true identifiers of the whole
synthetic population (what a register of local births gives). It runs

- frequency alignment and pattern mining on every name field's filters, trying identical
  filters and near-identical groups at several Dice thresholds (the truth picks the best
  setting, so the rates are upper bounds); a field salted with another is attacked with
  joint (value, salt) frequencies, and recovering the value counts;
- graph matching on a sample of records against the same children's identifiers, encoded
  by the attacker under its own key and the same schema;
- frequency alignment on each blocking pass's keyed tokens (deterministic by design), with
  the pass values' frequencies in the population.

The field attacks are compared with their chance level: guessing the most frequent name for
everybody is right for that name's share of records, with no encoding at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from linkage.encoding import (
    BloomFilterEncoder,
    EncodedSource,
    EncodingSchema,
    FieldKind,
    ProjectKey,
)
from linkage.encoding.encoder import part_labels
from linkage.encoding.schema import BlockingPass
from linkage.encoding.tokens import SALT_SEPARATOR
from linkage.privacy.frequency import (
    frequency_alignment_guesses,
    record_groups,
    score_guesses,
    token_frequency_guesses,
)
from linkage.privacy.graph_matching import graph_matching_attack
from linkage.privacy.pattern_mining import pattern_mining_guesses
from linkage.synth import Cohort, CohortConfig
from linkage.synth.extracts import draw_extracts
from linkage.synth.population import Population, generate_population

#: Grouping thresholds the field attacks try (None: identical filters only). Noise lowers
#: the Dice of two noisy copies of one name (about 0.68 at BLIP epsilon 2, 0.62 at 1.75),
#: and the best threshold sits just below it, so the grid is fine.
GROUPINGS: tuple[float | None, ...] = (None, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55)
#: Fields of these kinds form the graph attack's views (sex and codes add little).
GRAPH_KINDS = (FieldKind.NAME, FieldKind.DATE, FieldKind.POSTCODE,
               FieldKind.TEXT)
_POPULATION_COLUMNS = ("given_name", "family_name", "date_of_birth", "sex", "postcode",
                       "nhs_number")


@dataclass(frozen=True)
class SchemaRisk:
    """Share of records each attack re-identified, and the chance level of field attacks."""

    frequency_alignment: float
    pattern_mining: float
    graph_matching: float
    graph_claims_precision: float
    chance: float
    assessed_fields: tuple[str, ...]
    #: share of records whose blocking-pass value (e.g. both names' Soundex codes and the
    #: birth year) frequency alignment recovers from the keyed blocking tokens, worst pass
    blocking_tokens: float = 0.0
    blocking_chance: float = 0.0   #: the most frequent value's share in that pass
    blocking_pass: str = ""        #: the pass that leaks most

    @property
    def advantage(self) -> float:
        """The worst attack's re-identification rate above chance (what the encodings leak)."""
        return max(0.0, self.frequency_alignment - self.chance,
                   self.pattern_mining - self.chance, self.graph_matching,
                   self.blocking_tokens - self.blocking_chance)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "advantage": self.advantage}


def reference_register(population: Population, schema: EncodingSchema,
                       people: np.ndarray) -> pd.DataFrame:
    """The attacker's plaintext: true identifiers of ``people``, in the schema's formats."""
    columns: dict[str, object] = {"record_id": [f"p{i}" for i in range(len(people))]}
    for spec in schema.fields:
        if spec.name not in _POPULATION_COLUMNS:
            continue
        values = getattr(population, spec.name)[people]
        if spec.kind is FieldKind.DATE:
            values = pd.Series(values).dt.strftime(spec.date_format).to_numpy(dtype=object)
        columns[spec.name] = values
    return pd.DataFrame(columns)


def _labels(frame: pd.DataFrame, schema: EncodingSchema, field: str) -> np.ndarray:
    """``value`` or ``value|salt`` (:data:`SALT_SEPARATOR`) per record ("" where either is
    missing): how the encoder's salted tokens read, for the attacks' public frequencies."""
    values = part_labels(frame, schema, field)
    salt = schema.field(field).salt
    if salt is None or salt.field not in frame.columns:
        return values
    salts = part_labels(frame, schema, salt)
    joined = np.asarray([f"{v}{SALT_SEPARATOR}{s}" for v, s in zip(values, salts, strict=True)],
                        dtype=object)
    return np.where((values != "") & (salts != ""), joined, "")


def _pass_labels(frame: pd.DataFrame, schema: EncodingSchema,
                 blocking_pass: BlockingPass) -> np.ndarray:
    """What a blocking pass's token encodes, per record: the parts' normalised values
    joined with ``|`` (the first two in order for ``either_order``; "" if one is missing)."""
    parts = [part_labels(frame, schema, part) for part in blocking_pass.parts]
    if blocking_pass.either_order and len(parts) > 1:
        parts[0], parts[1] = (np.where(parts[0] <= parts[1], parts[0], parts[1]),
                              np.where(parts[0] <= parts[1], parts[1], parts[0]))
    joined = np.asarray(["|".join(values) for values in zip(*parts, strict=True)], dtype=object)
    missing = np.logical_or.reduce([p == "" for p in parts])
    return np.where(missing, "", joined)


@dataclass(frozen=True)
class PassRisk:
    """Frequency alignment on one blocking pass's keyed tokens."""

    blocking_pass: str
    rate: float     #: share of the records holding a token whose pass value it recovers
    chance: float   #: the most frequent value's share (guessing it for everybody)
    mean_group: float  #: records per distinct token, on average
    largest_group: int


def blocking_pass_risks(schema: EncodingSchema, enc: EncodedSource, truth: pd.DataFrame,
                        public: pd.DataFrame) -> tuple[PassRisk, ...]:
    """Frequency alignment on each blocking pass's tokens (``enc.blocking_keys`` (n, passes)
    uint64, 0 = no token), scored against ``truth`` (the encoded records' identifiers, row
    for row) with ``public``'s value frequencies; passes whose parts either lacks are
    left out."""
    out = []
    for j, blocking_pass in enumerate(schema.blocking):
        if any(p.field not in truth.columns or p.field not in public.columns
               for p in blocking_pass.parsed_parts):
            continue
        labels = _pass_labels(truth, schema, blocking_pass)
        known = pd.Series(_pass_labels(public, schema, blocking_pass)).value_counts()
        known = known[known.index != ""]
        held = (enc.blocking_keys[:, j] != 0) & (labels != "")
        if not held.any() or known.empty:
            continue
        guesses = token_frequency_guesses(enc.blocking_keys[held, j], known)
        groups = pd.Series(enc.blocking_keys[held, j]).value_counts()
        out.append(PassRisk(blocking_pass.name,
                            score_guesses("", guesses, labels[held]).record_rate,
                            float(np.mean(labels[held] == known.index[0])),
                            float(groups.mean()), int(groups.max())))
    return tuple(out)


def _blocking_attack(schema: EncodingSchema, enc: EncodedSource, truth: pd.DataFrame,
                     public: pd.DataFrame) -> tuple[float, float, str]:
    """(rate, chance, pass) of the pass whose rate is furthest above its chance level."""
    best = (0.0, 0.0, "")
    for risk in blocking_pass_risks(schema, enc, truth, public):
        if risk.rate - risk.chance > best[0] - best[1]:
            best = (risk.rate, risk.chance, risk.blocking_pass)
    return best


def _unsalted(labels: np.ndarray) -> np.ndarray:
    return np.asarray([None if v is None else str(v).partition(SALT_SEPARATOR)[0]
                       for v in labels],
                      dtype=object)


def _views(fields: Mapping[str, np.ndarray], names: list[str], rows: np.ndarray | None
           ) -> list[np.ndarray]:
    def pick(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a if rows is None else a[rows])
    return [pick(np.hstack([fields[f] for f in names])), *(pick(fields[f]) for f in names)]


def run_attacks(schema: EncodingSchema, enc: EncodedSource, truth: pd.DataFrame,
                public: pd.DataFrame, sample: np.ndarray, register: pd.DataFrame, *,
                attacker_key: ProjectKey, noise_seed: int | None = None,
                progress: bool = False) -> SchemaRisk:
    """Run the four attacks on encodings ``enc`` made under ``schema``.

    ``truth``: the encoded records' identifiers, row for row, columns named as the fields
    (scores the field attacks); ``public``: the attacker's population (frequencies);
    ``sample``: rows of ``enc`` for the graph attack and ``register``: their true
    identifiers, which the attacker encodes under ``attacker_key`` (and ``noise_seed``).
    """
    assessed = tuple(f.name for f in schema.fields if f.name in truth.columns)
    names = [f for f in schema.fields if f.kind is FieldKind.NAME and f.name in assessed]
    bar = tqdm(total=len(names) * len(GROUPINGS) + 1, desc="attacking", unit="step",
               disable=not progress)
    frequency = mining = chance = 0.0
    for spec in names:
        labels = _labels(truth, schema, spec.name)
        known = pd.Series(_labels(public, schema, spec.name)).value_counts()
        known = known[known.index != ""]
        held = ~enc.missing[:, enc.field_names.index(spec.name)] & (labels != "")
        if not held.any() or known.empty:
            bar.update(len(GROUPINGS))
            continue
        filters, value = enc.field_filters[spec.name][held], _unsalted(labels[held])
        top = str(known.index[0]).partition(SALT_SEPARATOR)[0]
        chance = max(chance, float(np.mean(value == top)))
        for grouping in GROUPINGS:
            groups = record_groups(filters, grouping)
            guesses = frequency_alignment_guesses(filters, known, groups=groups)
            frequency = max(frequency, score_guesses("", _unsalted(guesses), value).record_rate)
            guesses = pattern_mining_guesses(filters, known, q=spec.qgram_length,
                                             padded=spec.padded, groups=groups)
            mining = max(mining, score_guesses("", _unsalted(guesses), value).record_rate)
            bar.update()
    graph_fields = [f.name for f in schema.fields if f.kind in GRAPH_KINDS and f.name in assessed]
    graph_rate = graph_precision = 0.0
    if graph_fields and len(sample) > 1:
        mapping = {f.name: (f.name if f.name in register.columns else None)
                   for f in schema.fields}
        attacker = BloomFilterEncoder(schema, attacker_key, noise_seed=noise_seed).encode(
            register, mapping)
        graph = graph_matching_attack(_views(enc.field_filters, graph_fields, sample),
                                      _views(attacker.field_filters, graph_fields, None),
                                      np.arange(len(sample)))
        graph_rate, graph_precision = graph.record_rate, graph.value_rate
    blocking_rate, blocking_chance, blocking_pass = _blocking_attack(schema, enc, truth, public)
    bar.update()
    bar.close()
    return SchemaRisk(round(frequency, 4), round(mining, 4), round(graph_rate, 4),
                      round(graph_precision, 4), round(chance, 4), assessed,
                      round(blocking_rate, 4), round(blocking_chance, 4), blocking_pass)


def _fixed_key(label: str) -> ProjectKey:
    """Keys for the synthetic assessment only: fixed, so that results repeat."""
    return ProjectKey(hashlib.sha256(f"linkage privacy assessment: {label}".encode()).digest())


def _reference_extract(schema: EncodingSchema, people: int, seed: int, noise_seed: int
                       ) -> tuple[Population, Cohort, pd.DataFrame, EncodedSource]:
    """The synthetic population, its cohort, the health extract's identifiers the schema
    holds, and that extract encoded under the schema with the fixed provider key."""
    config = CohortConfig(people=people, seed=seed)
    rng = np.random.default_rng(config.seed)  # as generate_cohort does, keeping the population
    population = generate_population(config, rng)
    cohort = draw_extracts(population, config, rng)
    assessed = [f.name for f in schema.fields if f.name in _POPULATION_COLUMNS]
    present = cohort.extracts["health"][["record_id", *assessed]]
    encoder = BloomFilterEncoder(schema, _fixed_key("provider"), noise_seed=noise_seed)
    enc = encoder.encode(present, {f.name: (f.name if f.name in assessed else None)
                                   for f in schema.fields})
    return population, cohort, present, enc


def assess_blocking_passes(schema: EncodingSchema, *, people: int = 5_000, seed: int = 1
                           ) -> tuple[PassRisk, ...]:
    """Frequency alignment on each of ``schema``'s blocking passes, pass by pass, on the
    synthetic health extract :func:`assess_schema` attacks (the whole population's values
    as public knowledge). :func:`assess_schema` reports only the leakiest pass."""
    population, _, present, enc = _reference_extract(schema, people, seed, seed)
    register = reference_register(population, schema, np.arange(len(population)))
    return blocking_pass_risks(schema, enc, present, register)


def assess_schema(schema: EncodingSchema, *, people: int = 5_000, seed: int = 1,
                  graph_sample: int = 2_000, noise_seed: int | None = None) -> SchemaRisk:
    """Attack a synthetic health extract encoded under ``schema``; see the module docstring.

    Deterministic for a schema and seed (fixed synthetic keys; ``noise_seed`` defaults to
    ``seed``). Fields the synthetic cohort does not hold are not assessed
    (``assessed_fields`` lists those that were).
    """
    noise_seed = seed if noise_seed is None else noise_seed
    population, cohort, present, enc = _reference_extract(schema, people, seed, noise_seed)
    health = cohort.extracts["health"]
    sample = np.random.default_rng(seed).choice(len(health), min(graph_sample, len(health)),
                                                replace=False)
    person = cohort.truth.set_index("record_id").person_id.reindex(health.record_id).to_numpy()
    rows = pd.Index(population.person_id).get_indexer(person[sample])
    register = reference_register(population, schema, np.arange(len(population)))
    sampled = register.iloc[rows].reset_index(drop=True)  # a child may be sampled twice
    sampled["record_id"] = [f"s{i}" for i in range(len(sampled))]  # (duplicate records)
    return run_attacks(schema, enc, present, register, sample, sampled,
                       attacker_key=_fixed_key("attacker"), noise_seed=noise_seed + 1)
