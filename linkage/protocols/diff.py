"""What changed between two versions of a protocol file, in plain words, and whether the
change needs re-approval.

Every change falls in one of three groups:

- **widenings that need re-approval**: more is shared, with more parties, for longer, for
  more purposes, or with weaker protection or legal footing (a new party, release,
  attribute or purpose; onward sharing turned on; longer retention; a later expiry; a
  lower minimum cell count or rounding base; weaker hardening; a lawful basis or Article 9
  condition removed or changed; an identifier added; audit signing turned off). A change
  of a commitment whose direction cannot be told from the values (a purpose reworded, a
  new deletion method, another organisation) is put here too: it needs re-approval.
- **narrowings**: the reverse of each widening.
- **edits**: wording, contacts, file names, versions.

Widening or narrowing is decided by comparing values (a minimum cell count lowered from
10 to 5 widens; raised, it narrows), never by the clause's name alone. A clause this
module does not know is treated as needing re-approval. Pure: models in, a
:class:`ProtocolDiff` out; messages hold protocol values (party, purpose and column
names), never a value from a data record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel

from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.models import Agreement, PartnerProtocol, Role

WIDENING, NARROWING, EDIT = "widening", "narrowing", "edit"


@dataclass(frozen=True)
class ProtocolDiff:
    """The changes from one version of a protocol file (or a whole agreement) to another."""

    widenings: tuple[str, ...] = ()  #: changes that widen what is shared: re-approve
    narrowings: tuple[str, ...] = ()  #: changes that narrow it
    edits: tuple[str, ...] = ()  #: wording, contacts, names: no change to what is shared
    version_unchanged: bool = False  #: content changed but a file's ``version`` did not
    version_notes: tuple[str, ...] = ()  #: one sentence per such file

    @property
    def changed(self) -> bool:
        """Whether anything changed (a version bump alone counts as an edit)."""
        return bool(self.widenings or self.narrowings or self.edits)

    @property
    def needs_reapproval(self) -> bool:
        """Any widening, or a change that kept the old version."""
        return bool(self.widenings) or (self.version_unchanged and self.changed)

    @property
    def changes(self) -> list[str]:
        """Every line: version notes, then widenings, narrowings and edits."""
        return [*self.version_notes, *self.widenings, *self.narrowings, *self.edits]

    def as_text(self) -> str:
        """The changes grouped under headings, for a reviewer (Markdown-compatible)."""
        if not self.changed:
            return "no changes\n"
        lines: list[str] = []
        for note in self.version_notes:
            lines += [f"WARNING: {note}", ""]
        for title, items in (("Widenings that need re-approval", self.widenings),
                             ("Narrowings", self.narrowings), ("Edits", self.edits)):
            if items:
                lines += [f"{title} ({len(items)}):", *[f"- {x}" for x in items], ""]
        if self.needs_reapproval:
            why = [w for w, on in (("it widens what is shared", bool(self.widenings)),
                                   ("the version is unchanged", self.version_unchanged)) if on]
            lines.append(f"Re-approval needed: {' and '.join(why)}.")
        else:
            lines.append("No re-approval needed for these changes (narrowings and edits "
                         "only, under a new version).")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Rules: how a change of each clause is judged


@dataclass(frozen=True)
class _Order:
    """A scalar clause. ``wider``: +1 when a higher value (or later date, or true) widens,
    -1 when a lower one does, 0 when any change of value needs re-approval, None for an
    edit. An unset value (None) counts as the widest: a safeguard or condition removed."""

    wider: int | None
    why: str = ""


@dataclass(frozen=True)
class _Set:
    """A list of plain values compared as a set: what adding and removing an item does."""

    added: str
    removed: str
    why_added: str = ""
    why_removed: str = ""


@dataclass(frozen=True)
class _Keyed:
    """A list of clauses identified by ``key``: what adding an item does (removing does the
    reverse), and how to describe an item in a sentence."""

    key: str
    noun: str
    describe: Callable[[dict[str, Any]], str]
    why_added: str = ""


_EDIT = _Order(None)
_REAPPROVE = _Order(0)
_FEWER_BITS = "fewer bits: a weaker encoding"
_MORE_BITS_PER_TOKEN = "more bits per token make frequency attacks easier"
_WEAKER = "weaker protection of the identifiers"


def _parts(item: dict[str, Any]) -> str:
    return " + ".join(item.get("parts", []))


_RULES: dict[tuple[str, ...], _Order | _Set | _Keyed] = {
    # both kinds of file
    ("format_version",): _EDIT,
    ("version",): _EDIT,
    # the agreement
    ("id",): _EDIT,
    ("title",): _EDIT,
    ("dpia_reference",): _EDIT,
    ("purposes",): _Keyed("id", "purpose", lambda p: f": {p['description']}",
                          "the linked data may be used for it"),
    ("purposes", "*", "description"): _Order(0, "the wording of a purpose sets what the data "
                                                "may be used for"),
    ("controllers",): _Order(0, "the controllers' responsibilities change (UK GDPR Art. 26)"),
    ("legal_powers",): _Set(WIDENING, WIDENING, "a new statutory gateway is relied on",
                            "check the sharing still rests on a statutory power"),
    ("start_date",): _Order(-1),
    ("review_date",): _Order(+1),
    ("expiry_date",): _Order(+1),
    ("parties",): _Keyed("name", "party", lambda p: f" (protocol {p['protocol']})",
                         "one more organisation takes part"),
    ("parties", "*", "protocol"): _EDIT,
    ("linkage_unit",): _Order(0, "another party would receive every provider's encodings"),
    ("encoding", "version"): _EDIT,
    ("encoding", "record_filter_bits"): _Order(-1, _FEWER_BITS),
    ("encoding", "fields"): _Keyed("name", "identifier", lambda f: f" (kind {f['kind']})",
                                   "one more identifier is encoded and sent to the linkage "
                                   "unit"),
    ("encoding", "fields", "*", "kind"): _Order(0, "the identifier is normalised and "
                                                   "tokenised differently"),
    ("encoding", "fields", "*", "qgram_length"): _Order(0, "the identifier's tokens change"),
    ("encoding", "fields", "*", "padded"): _Order(0, "the identifier's tokens change"),
    ("encoding", "fields", "*", "date_format"): _EDIT,
    ("encoding", "fields", "*", "filter_bits"): _Order(-1, _FEWER_BITS),
    ("encoding", "fields", "*", "bits_per_token"): _Order(+1, _MORE_BITS_PER_TOKEN),
    ("encoding", "fields", "*", "record_bits_per_token"): _Order(+1, _MORE_BITS_PER_TOKEN),
    ("encoding", "fields", "*", "salt_with"): _Order(0, "without its salt, equal values give "
                                                        "equal filters across birth dates"),
    ("encoding", "hardening", "balance"): _Order(-1, _WEAKER),
    ("encoding", "hardening", "xor_fold"): _Order(-1, _WEAKER),
    ("encoding", "hardening", "blip_epsilon"): _Order(+1, "less noise: " + _WEAKER),
    ("encoding", "hardening", "diffusion_taps"): _Order(-1, _WEAKER),
    ("encoding", "hardening", "applies_to"): _Set(NARROWING, WIDENING,
                                                  why_removed="fewer filters are hardened"),
    ("encoding", "blocking"): _Keyed("name", "blocking pass", lambda p: f" ({_parts(p)})",
                                     "the linkage unit sees which records share its parts"),
    ("encoding", "blocking", "*", "parts"): _Set(WIDENING, WIDENING,
                                                 "what the linkage unit can group records by "
                                                 "changes", "what the linkage unit can group "
                                                 "records by changes"),
    ("encoding", "blocking", "*", "either_order"): _REAPPROVE,
    ("encoding_requirements", "minimum_record_filter_bits"): _Order(-1, _FEWER_BITS),
    ("encoding_requirements", "minimum_field_filter_bits"): _Order(-1, _FEWER_BITS),
    ("encoding_requirements", "maximum_bits_per_token"): _Order(+1, _MORE_BITS_PER_TOKEN),
    ("encoding_requirements", "require_keyed_hashing"): _Order(-1, _WEAKER),
    ("encoding_requirements", "required_hardening"): _Set(NARROWING, WIDENING,
                                                          why_removed=_WEAKER),
    ("encoding_requirements", "maximum_reidentification_rate"): _Order(
        +1, "encodings that leak more are accepted"),
    ("disclosure_control", "minimum_cell_count"): _Order(-1, "smaller counts are published"),
    ("disclosure_control", "rounding_base"): _Order(-1, "counts are published more "
                                                        "precisely"),
    ("data_quality", "maximum_missing_share"): _Order(+1, "extracts with more missing or "
                                                          "invalid identifiers are accepted"),
    ("audit", "required"): _Order(-1, "steps need not be logged"),
    ("audit", "signed"): _Order(-1, "audit entries need not be signed"),
    # a partner protocol
    ("partner",): _EDIT,
    ("organisation",): _Order(0, "another organisation would take part"),
    ("organisation_type",): _REAPPROVE,
    ("roles",): _Set(WIDENING, NARROWING, "the party takes on a new role"),
    ("lawful_basis", "article_6"): _Order(0, "the Article 6 lawful basis changes"),
    ("lawful_basis", "article_9"): _Order(0, "special category data needs an Article 9 "
                                             "condition"),
    ("lawful_basis", "dpa_2018_schedule_1_paragraph"): _Order(
        0, "the Article 9 condition rests on a Schedule 1 paragraph"),
    ("lawful_basis", "appropriate_policy_document"): _Order(
        -1, "most Schedule 1 conditions need an appropriate policy document"),
    ("contacts", "caldicott_guardian"): _EDIT,
    ("contacts", "data_protection_officer"): _EDIT,
    ("record_id_column",): _Order(0, "the linkage unit receives this column as record ids: "
                                     "check it is not an identifier"),
    ("retention", "encodings_days"): _Order(+1, "encodings are kept longer"),
    ("retention", "links_days"): _Order(+1, "link keys are kept longer"),
    ("retention", "deletion_method"): _Order(0, "check the new deletion method"),
    ("onward_sharing",): _Order(+1, "received data may be shared onward"),
}
_UNKNOWN = _Order(0, "a clause this tool cannot judge")


# ---------------------------------------------------------------------------------------
# Walking two versions


@dataclass
class _Walk:
    """Two versions' plain data and the changes found so far."""

    old_root: dict[str, Any]
    new_root: dict[str, Any]
    prefix: str = ""
    providers: frozenset[str] = frozenset()  #: parties that are data providers (new files)
    found: dict[str, list[str]] = field(default_factory=lambda: {WIDENING: [], NARROWING: [],
                                                                  EDIT: []})

    def add(self, kind: str, text: str, why: str = "") -> None:
        if why and kind == WIDENING:
            text = f"{text} ({why})"
        self.found[kind].append(self.prefix + text)

    def result(self, version_notes: Iterable[str] = ()) -> ProtocolDiff:
        notes = tuple(version_notes)
        return ProtocolDiff(tuple(self.found[WIDENING]), tuple(self.found[NARROWING]),
                            tuple(self.found[EDIT]), bool(notes), notes)


def _words(name: str) -> str:
    return name.replace("_", " ")


def _label(labels: tuple[str, ...]) -> str:
    """``("disclosure control", "minimum cell count")`` -> "disclosure control: minimum
    cell count" (labels are already in words)."""
    *context, last = labels
    return (" ".join(context) + ": " if context else "") + last


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return ", ".join(str(x) for x in value) or "none"
    return str(value)


def _compare(walk: _Walk, old: Any, new: Any, pattern: tuple[str, ...],
             labels: tuple[str, ...]) -> None:
    if old == new:
        return
    rule = _RULES.get(pattern)
    if pattern == ("releases",):
        _compare_releases(walk, old or [], new or [])
    elif pattern == ("identifiers",):
        _compare_identifiers(walk, old or {}, new or {})
    elif pattern == ("encoding", "hardening", "blip_fields"):
        _compare_noise(walk, old, new)
    elif pattern == ("data_quality", "per_field"):
        _compare_missing_shares(walk, old or {}, new or {})
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _compare(walk, old.get(key), new.get(key), (*pattern, str(key)),
                     (*labels, _words(str(key))))
    elif isinstance(rule, _Keyed) and isinstance(old, list) and isinstance(new, list) and \
            _compare_keyed(walk, rule, old, new, pattern, labels):
        return
    elif isinstance(rule, _Set) and isinstance(old, list) and isinstance(new, list):
        _compare_set(walk, rule, old, new, labels)
    else:
        _compare_scalar(walk, rule if isinstance(rule, _Order) else _UNKNOWN, old, new,
                        pattern, labels)


def _compare_scalar(walk: _Walk, rule: _Order, old: Any, new: Any, pattern: tuple[str, ...],
                    labels: tuple[str, ...]) -> None:
    label = _label(labels)
    if old is None or new is None:
        text = (f"{label} removed (was {_shown(old)})" if new is None
                else f"{label} set to {_shown(new)} (was not set)")
        kind = EDIT if rule.wider is None else (WIDENING if new is None else NARROWING)
        walk.add(kind, text, rule.why)
        return
    ordered = rule.wider in (-1, 1) and _comparable(old, new)
    if not ordered:
        walk.add(EDIT if rule.wider is None else WIDENING,
                 f"{label} changed from {_shown(old)} to {_shown(new)}", rule.why)
        return
    higher = new > old
    if isinstance(old, bool):
        text = f"{label} turned {'on' if new else 'off'} ({_shown(old)} -> {_shown(new)})"
    elif isinstance(old, dt.date):
        later = "extended" if pattern[-1] == "expiry_date" else "moved later"
        text = f"{label} {later if higher else 'brought forward'} from {_shown(old)} to " \
               f"{_shown(new)}"
    else:
        text = f"{label} {'raised' if higher else 'lowered'} from {old} to {new}"
    wider = higher if rule.wider == 1 else not higher
    walk.add(WIDENING if wider else NARROWING, text, rule.why)


def _comparable(old: Any, new: Any) -> bool:
    """Both true/false, both dates, or both numbers (not true/false)."""
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, dt.date) or isinstance(new, dt.date):
        return isinstance(old, dt.date) and isinstance(new, dt.date)
    return isinstance(old, int | float) and isinstance(new, int | float)


def _compare_set(walk: _Walk, rule: _Set, old: list[Any], new: list[Any],
                 labels: tuple[str, ...]) -> None:
    label = _label(labels)
    added = [x for x in new if x not in old]
    removed = [x for x in old if x not in new]
    if added:
        verb = "widened" if rule.added == WIDENING else "narrowed"
        walk.add(rule.added, f"{label} {verb}: added {_shown(added)}", rule.why_added)
    if removed:
        verb = "narrowed" if rule.removed == NARROWING else "changed"
        walk.add(rule.removed, f"{label} {verb}: removed {_shown(removed)}", rule.why_removed)
    if not added and not removed:
        walk.add(EDIT, f"{label} reordered")


def _compare_keyed(walk: _Walk, rule: _Keyed, old: list[Any], new: list[Any],
                   pattern: tuple[str, ...], labels: tuple[str, ...]) -> bool:
    """Items matched by their key; False when the key is missing or repeated."""
    def index(items: list[Any]) -> dict[str, dict[str, Any]] | None:
        if not all(isinstance(x, dict) and rule.key in x for x in items):
            return None
        keyed = {str(x[rule.key]): x for x in items}
        return keyed if len(keyed) == len(items) else None

    ko, kn = index(old), index(new)
    if ko is None or kn is None:
        return False
    context = " ".join(labels[:-1])
    where = f"{context}: " if context else ""
    for key, item in kn.items():
        if key not in ko:
            walk.add(WIDENING, f"{where}new {rule.noun} '{key}'{rule.describe(item)}",
                     rule.why_added)
    for key, item in ko.items():
        if key not in kn:
            walk.add(NARROWING, f"{where}{rule.noun} '{key}' removed")
        else:
            _compare(walk, item, kn[key], (*pattern, "*"),
                     (*labels[:-1], f"{rule.noun} '{key}'"))
    if list(ko) != list(kn) and set(ko) == set(kn):
        walk.add(EDIT, f"{where}{labels[-1]} reordered")
    return True


def _release_map(releases: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """(recipient, purpose) -> the attributes released, over every clause (as enforced)."""
    out: dict[tuple[str, str], list[str]] = {}
    for release in releases:
        attributes = out.setdefault((release["recipient"], release["purpose"]), [])
        attributes += [a for a in release["attributes"] if a not in attributes]
    return out


def _compare_releases(walk: _Walk, old: list[dict[str, Any]],
                      new: list[dict[str, Any]]) -> None:
    ro, rn = _release_map(old), _release_map(new)
    provider = walk.new_root.get("partner") or walk.old_root.get("partner") or "the partner"
    for (recipient, purpose), attributes in rn.items():
        to_provider = (f" ({recipient} is itself a data provider: it can attach them to its "
                       f"own named records)" if recipient in walk.providers else "")
        before = ro.get((recipient, purpose))
        if before is None:
            walk.add(WIDENING, f"new release: {provider} may release {_shown(attributes)} to "
                               f"{recipient} for purpose '{purpose}'{to_provider}")
            continue
        if before == attributes:
            continue
        added = [a for a in attributes if a not in before]
        removed = [a for a in before if a not in attributes]
        where = f"release to {recipient} for purpose '{purpose}'"
        if added:
            walk.add(WIDENING, f"{where}: attribute(s) added: {_shown(added)}{to_provider}")
        if removed:
            walk.add(NARROWING, f"{where}: attribute(s) removed: {_shown(removed)}")
        if not added and not removed:
            walk.add(EDIT, f"{where}: attributes reordered")
    for (recipient, purpose), attributes in ro.items():
        if (recipient, purpose) not in rn:
            walk.add(NARROWING, f"release of {_shown(attributes)} to {recipient} for purpose "
                                f"'{purpose}' removed")
    if ro == rn and old != new:
        walk.add(EDIT, "releases rearranged (the same attributes to the same recipients)")


def _compare_identifiers(walk: _Walk, old: dict[str, Any], new: dict[str, Any]) -> None:
    for name, column in new.items():
        if name not in old:
            walk.add(WIDENING, f"identifiers: '{name}' added (read from column '{column}')",
                     "one more identifier column is read and encoded")
        elif old[name] != column:
            walk.add(WIDENING, f"identifiers: '{name}' now read from column '{column}' "
                               f"(was '{old[name]}')", "another column of the extract is read")
    for name, column in old.items():
        if name not in new:
            walk.add(NARROWING, f"identifiers: '{name}' removed (was read from column "
                                f"'{column}')")


def _field_names(root: dict[str, Any]) -> list[str]:
    return [f["name"] for f in root.get("encoding", {}).get("fields", [])]


def _compare_noise(walk: _Walk, old: list[str] | None, new: list[str] | None) -> None:
    """``blip_fields``, where unset means every field."""
    before = _field_names(walk.old_root) if old is None else old
    after = _field_names(walk.new_root) if new is None else new
    lost = [f for f in before if f not in after]
    gained = [f for f in after if f not in before]
    if lost:
        walk.add(WIDENING, f"encoding hardening: noise (blip fields) removed from "
                           f"{_shown(lost)}", "equal values give equal filters again")
    if gained:
        walk.add(NARROWING, f"encoding hardening: noise (blip fields) added to "
                            f"{_shown(gained)}")
    if not lost and not gained:
        walk.add(EDIT, "encoding hardening: blip fields rewritten (the same fields)")


def _compare_missing_shares(walk: _Walk, old: dict[str, float],
                            new: dict[str, float]) -> None:
    """``data_quality.per_field``, where an unlisted field has the overall share."""
    default_old = walk.old_root.get("data_quality", {}).get("maximum_missing_share", 0.5)
    default_new = walk.new_root.get("data_quality", {}).get("maximum_missing_share", 0.5)
    for name in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(name, default_old), new.get(name, default_new)
        text = (f"data quality: '{name}' may be missing or invalid in up to {after:.0%} of "
                f"records (was {before:.0%})")
        if after > before:
            walk.add(WIDENING, text, "extracts with more missing or invalid identifiers are "
                                     "accepted")
        elif after < before:
            walk.add(NARROWING, text)
        else:
            walk.add(EDIT, f"data quality: per-field share for '{name}' written out or "
                           f"dropped (the same share, {after:.0%})")


def _plain(value: Any) -> Any:
    """Tuples as lists and enums as their values, recursively, for comparison."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.value if isinstance(value, Enum) else value


def _version_note(old: BaseModel, new: BaseModel, what: str, prefix: str = "") -> str | None:
    """The warning for a file whose content changed but whose version did not."""
    old_data, new_data = _plain(old.model_dump()), _plain(new.model_dump())
    version = old_data.pop("version", None)
    if version != new_data.pop("version", None) or old_data == new_data:
        return None
    return (f"{prefix}version is unchanged ({version}) although the content changed: a "
            f"changed {what} must carry a new version and be re-approved")


def _what(model: BaseModel) -> str:
    return "agreement" if isinstance(model, Agreement) else "protocol"


def diff_protocols(old: BaseModel, new: BaseModel, *, prefix: str = "",
                   providers: Iterable[str] = ()) -> ProtocolDiff:
    """The changes from ``old`` to ``new``: two agreements or two partner protocols.

    ``prefix`` starts every sentence (e.g. ``"health: "``); ``providers`` names the
    parties that are data providers, so a release to one says so.
    """
    if type(old) is not type(new):
        raise TypeError(f"cannot compare a {type(old).__name__} with a {type(new).__name__}")
    walk = _Walk(_plain(old.model_dump()), _plain(new.model_dump()), prefix,
                 frozenset(providers))
    _compare(walk, walk.old_root, walk.new_root, (), ())
    note = _version_note(old, new, _what(new), prefix)
    return walk.result([note] if note else [])


def diff_agreements(old: LoadedAgreement, new: LoadedAgreement) -> ProtocolDiff:
    """The changes from one loaded agreement to another: the agreement file and every
    party's protocol (each protocol's sentences start with the party's name).

    A new party's protocol is summarised as a widening (its roles, and onward sharing when
    allowed) and each of its releases listed; a removed party is a narrowing.
    """
    providers = [n for n, p in new.protocols.items() if Role.DATA_PROVIDER in p.roles]
    parts = [diff_protocols(old.agreement, new.agreement)]
    for name, protocol in new.protocols.items():
        before = old.protocols.get(name)
        if before is not None:
            parts.append(diff_protocols(before, protocol, prefix=f"{name}: ",
                                        providers=providers))
            continue
        parts.append(_new_party(name, protocol, providers))
    return _merge(parts)


def _new_party(name: str, protocol: PartnerProtocol, providers: list[str]) -> ProtocolDiff:
    """A party with no earlier protocol: everything it brings is a widening."""
    walk = _Walk({}, _plain(protocol.model_dump()), f"{name}: ", frozenset(providers))
    roles = ", ".join(_words(r.value) for r in protocol.roles)
    walk.add(WIDENING, f"new party's protocol: {protocol.organisation} ({roles}); onward "
                       f"sharing {'allowed' if protocol.onward_sharing else 'not allowed'}")
    if protocol.onward_sharing:
        walk.add(WIDENING, "onward sharing turned on for a new party (true)",
                 "received data may be shared onward")
    if protocol.identifiers:
        walk.add(WIDENING, f"identifiers read: {_shown(list(protocol.identifiers))}")
    _compare_releases(walk, [], walk.new_root.get("releases", []))
    return walk.result()


def _merge(parts: list[ProtocolDiff]) -> ProtocolDiff:
    notes = tuple(n for p in parts for n in p.version_notes)
    return ProtocolDiff(tuple(x for p in parts for x in p.widenings),
                        tuple(x for p in parts for x in p.narrowings),
                        tuple(x for p in parts for x in p.edits), bool(notes), notes)


def describe_changes(old: BaseModel, new: BaseModel) -> list[str]:
    """One sentence per change from ``old`` to ``new`` (models of the same type): the
    version warning first, if any, then widenings, narrowings and edits."""
    return diff_protocols(old, new).changes
