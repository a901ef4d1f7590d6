"""The store's derived columns as numpy arrays: what the views read, loaded once per analysis.

One ``Items`` holds the well-formed items (by number) and their labels as two parallel arrays
(the item's index, the label's code into ``names``). Times are epoch seconds (UTC). ``load``
reads only the columns it is asked for (``views.needs``: one view reads only its own; ``labels
sig/`` reads only the labels starting ``sig/``); asking an ``Items`` for a column it was not
loaded with is an AttributeError.
"""
from typing import Any, Collection, List, Optional, Tuple

import numpy

from ..records.selection import SUBSETS, Filter
from ..store import open_store
from ..store.derived import NUMBERS, TEXTS, Columns

FLAGS = {"pull_request", "is_closed", "noted", "action_required", "walked"}  # integers read as bools
LABELS = "labels"  # the label arrays' name in a set of fields; "labels PREFIX": only the labels starting PREFIX
COUNTS = "label_counts"  # the uses per label name alone (``label_counts()`` of every item, no label arrays)
EVENTS = "label_events"  # the timeline's label events (``event_*``); "label_events PREFIX": of the labels starting PREFIX
FIELDS = frozenset(NUMBERS) | frozenset(TEXTS) | {LABELS, EVENTS}  # every column, every label, every event
EVENT_FIELDS = ("event_item", "event_at", "event_added", "event_label", "event_kind")


def label_prefixes(fields: Collection[str], kind: str = LABELS) -> Optional[Tuple[str, ...]]:
    """The label name prefixes that ``fields`` ask for of ``kind`` (labels, label events): "": every label;
    None: none."""
    prefixes = {field[len(kind):].strip() for field in fields if field.split(" ")[0] == kind}
    return None if not prefixes else ("",) if "" in prefixes else tuple(sorted(prefixes))


class Items:
    """Columns of items: ``number``, ``pull_request``, ``created``, ``closed`` (``is_closed`` says where it
    holds one), ``author``, ``closed_by`` (None: unknown), ``noted`` (a release note), ``action_required``;
    labels: ``label_item``, ``label_code`` and the ``names`` the codes index; from the timeline: ``walked``,
    ``first_response``, ``first_review``, ``merged`` (0: none), ``timelines`` (the store's walked items) and its
    label events in order: ``event_item``, ``event_at``, ``event_added``, ``event_label`` (a code into
    ``event_names``), ``event_kind`` (a code into ``store.derived.KINDS``)."""

    def __init__(self, columns: Columns):
        self.fields = columns.numbers + columns.texts
        self.timelines = columns.timelines
        for i, name in enumerate(columns.numbers):
            column = columns.number_table[:, i]
            setattr(self, name, column.astype(bool) if name in FLAGS else column)  # a view of the table, no copy
        for name, column in zip(columns.texts, columns.text_columns):
            setattr(self, name, column)
        if columns.events is not None:
            self.fields += EVENT_FIELDS
            self.event_names = list(columns.event_names)
            events = columns.events
            index = places(self.number, events[:, 0])
            known = self.number[index] == events[:, 0] if len(self.number) else index < 0  # malformed: none
            if not known.all():
                events, index = events[known], index[known]
            self.event_item, self.event_at, packed = index.astype(numpy.int32), events[:, 1], events[:, 2]
            self.event_label = (packed >> 3).astype(numpy.int32)
            self.event_kind, self.event_added = ((packed >> 1) & 3).astype(numpy.int8), (packed & 1).astype(bool)
        if columns.counts is not None and columns.labels is None:
            self.names, self.counts = list(columns.counts), numpy.array(list(columns.counts.values()), numpy.int64)
        if columns.labels is None:
            return
        self.fields += (LABELS,)
        self.names: List[str] = list(columns.labels)
        uses = [len(numbers) for numbers in columns.labels.values()]
        label_numbers = numpy.concatenate([numpy.empty(0, numpy.int64), *columns.labels.values()])
        label_codes = numpy.repeat(numpy.arange(len(uses)), uses)
        index = places(self.number, label_numbers)
        known = self.number[index] == label_numbers if len(self.number) else index < 0  # a malformed item's: none
        self.label_item, self.label_code = index[known], label_codes[known]

    def __len__(self) -> int:
        return len(self.number)

    def __repr__(self) -> str:  # DFFML logs every operation's inputs with str()
        return f"<{len(self)} items>"

    def take(self, mask: numpy.ndarray) -> "Items":
        """The items where ``mask`` holds, with their labels."""
        chosen = object.__new__(Items)
        chosen.fields, chosen.timelines = self.fields, self.timelines
        for name in self.fields:
            if name != LABELS and name not in EVENT_FIELDS:
                setattr(chosen, name, getattr(self, name)[mask])
        if EVENT_FIELDS[0] in self.fields:
            held = mask[self.event_item]
            chosen.event_names = self.event_names
            for name in EVENT_FIELDS:
                setattr(chosen, name, getattr(self, name)[held])
            chosen.event_item = (numpy.cumsum(mask) - 1)[chosen.event_item]
        if LABELS not in self.fields:
            return chosen
        keep = mask[self.label_item]
        chosen.label_item = (numpy.cumsum(mask) - 1)[self.label_item[keep]]
        chosen.label_code, chosen.names = self.label_code[keep], self.names
        return chosen

    def codes(self, name: str) -> Tuple[List[Optional[str]], numpy.ndarray]:
        """A text column's distinct values (None among them where it is unknown) and each item's code into them,
        computed once per ``Items``."""
        cache = self.__dict__.setdefault("_codes", {})
        if name not in cache:
            values = getattr(self, name).tolist()
            distinct = list(dict.fromkeys(values))
            index = {value: code for code, value in enumerate(distinct)}
            cache[name] = distinct, numpy.fromiter(map(index.__getitem__, values), numpy.int64, len(values))
        return cache[name]

    def logins_kept(self, name: str, keep: Filter) -> numpy.ndarray:
        """Per item, whether its login ``name`` (``author``, ``closed_by``) is known and ``keep.key`` keeps it."""
        distinct, codes = self.codes(name)
        return numpy.array([login is not None and bool(keep.key(login)) for login in distinct], bool)[codes]

    def subset(self, subset: str) -> "Items":
        """``all``, ``issues`` or ``pull_requests``."""
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {sorted(SUBSETS)}, got {subset!r}")
        return self if subset == "all" else self.take(self.pull_request == (subset == "pull_requests"))

    def matching(self, keep: Filter) -> numpy.ndarray:
        """Per item, whether ``keep.item`` keeps its labels (any matches include, none matches exclude)."""
        kept = numpy.ones(len(self), dtype=bool)
        for pattern, wanted in ((keep.include, True), (keep.exclude, False)):
            if pattern is not None:
                hit = numpy.zeros(len(self), dtype=bool)
                hit[self.label_item[names_matching(self.names, pattern.search)[self.label_code]]] = True
                kept &= hit if wanted else ~hit
        return kept

    def label_counts(self, mask: Any = None) -> numpy.ndarray:
        """Uses of each label code, over the items where ``mask`` holds (all: None)."""
        if mask is None and LABELS not in self.fields:
            return self.counts  # read as counts alone
        codes = self.label_code if mask is None else self.label_code[mask[self.label_item]]
        return numpy.bincount(codes, minlength=len(self.names))


def places(numbers: numpy.ndarray, wanted: numpy.ndarray) -> numpy.ndarray:
    """Where each of ``wanted`` is, or would be, in the sorted ``numbers`` (clipped to them): by a table of every
    number up to the largest when that is small (a gather, not a binary search each), else by searchsorted."""
    if len(numbers) and len(wanted) and 0 <= numbers[0] and numbers[-1] <= 4 * len(numbers) + 2**20:
        table = numpy.zeros(int(numbers[-1]) + 2, numpy.int64)
        table[numbers + 1] = 1
        table = numpy.cumsum(table)  # numbers below or at each number, so: the place of the next one at or above
        return numpy.minimum(table[numpy.clip(wanted, 0, len(table) - 1)], len(numbers) - 1)
    return numpy.clip(numpy.searchsorted(numbers, wanted), 0, max(len(numbers) - 1, 0))


def names_matching(names: List[str], test) -> numpy.ndarray:
    """A bool per name: whether ``test(name)`` is true."""
    return numpy.array([bool(test(name)) for name in names], dtype=bool)


def load(path, fields: Collection[str] = FIELDS) -> Tuple[Items, List[str]]:
    """The named columns (``FIELDS``, or ``labels PREFIX``; ``number`` always) of every well-formed item of a
    store, and one message per malformed item."""
    numbers = ["number"] + [name for name in NUMBERS if name in fields and name != "number"]
    with open_store(path) as store:
        columns = store.derived_columns(numbers, [name for name in TEXTS if name in fields], label_prefixes(fields),
                                        COUNTS in fields and label_prefixes(fields) is None,
                                        label_prefixes(fields, EVENTS))
    return Items(columns), columns.problems
