"""Entity-level scores of token classification: BIO tags read as spans, compared span by span.

A tag sequence such as  O B-PER I-PER O B-PER  holds two entities, (1, 3, PER) and (4, 5, PER)
(start, end exclusive, type). As conlleval and seqeval (default mode) read it: an entity starts
at a B-X, or at an I-X that does not continue an entity of type X; it goes on over the I-X that
follow. A predicted entity counts only when its start, end and type all equal a true one's:

    precision = |true & predicted| / |predicted|,  recall = |true & predicted| / |true|

Tag-level scores (report.py on the tags, token by token) credit half-found names; entity-level
scores do not: "Julius" found and "Caesar" missed is a wrong entity.
"""

from .report import _ratio


def bio_spans(tags, tag_names) -> set:
    """The entities of one sequence of tag ids: {(start, end, type)}."""
    spans, start, kind = set(), None, None
    for i, t in enumerate(list(tags) + [None]):
        name = "O" if t is None else tag_names[int(t)]
        prefix, _, typ = name.partition("-")
        continues = prefix == "I" and kind == typ
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, typ
    return spans


def entity_report(true_sequences, predicted_sequences, tag_names) -> dict:
    """Entity-level precision, recall, F1 and support (true entities) per entity type, and their
    micro average over all types: {"types": {type: {...}}, "micro avg": {...}}."""
    if len(true_sequences) != len(predicted_sequences):
        raise ValueError(
            f"entity_report: {len(true_sequences)} true sequences but "
            f"{len(predicted_sequences)} predicted"
        )
    counts = {}  # type -> [hits, predicted, true]
    for n, (t, p) in enumerate(zip(true_sequences, predicted_sequences)):
        if len(t) != len(p):
            raise ValueError(
                f"entity_report: sequence {n} has {len(t)} tags but {len(p)} predicted"
            )
        true, pred = bio_spans(t, tag_names), bio_spans(p, tag_names)
        for spans, k in ((true & pred, 0), (pred, 1), (true, 2)):
            for _, _, typ in spans:
                counts.setdefault(typ, [0, 0, 0])[k] += 1

    def scores(hits, predicted, true):
        p, r = float(_ratio(hits, predicted)), float(_ratio(hits, true))
        return {"precision": p, "recall": r, "f1": float(_ratio(2 * p * r, p + r)), "support": true}

    total = [sum(c[k] for c in counts.values()) for k in range(3)]
    return {
        "types": {t: scores(*c) for t, c in sorted(counts.items())},
        "micro avg": scores(*total),
    }
