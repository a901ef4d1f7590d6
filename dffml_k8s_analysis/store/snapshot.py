"""The analysis's columns kept as one columnar snapshot: every derived column, label and label event as numpy
arrays (``.npy`` members of one uncompressed ``.npz`` blob, never a pickle), read in milliseconds.

The snapshot is stamped with the store's columns version (``state`` key ``columns_version``), which a trigger
on every table the columns come from (migration 9) moves on within the writing transaction. ``read`` uses the
snapshot only when its stamp equals the version now: a store written after it, a damaged blob (the zip's CRC),
or arrays of the wrong shape fall back to SQL (``derived.read``), so a stale snapshot never gives a wrong
number. ``refresh`` is the writers' (the end of an export, an update, a timeline or closers walk): it reads the
version, then every column by SQL, and stores them under that version, so a write made meanwhile leaves the
snapshot stale, never wrong.
"""
import io
import logging
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy

from . import derived
from .derived import NUMBERS, TEXTS, Columns

SNAPSHOT_AT = 9  # the version from which a store has the snapshot's table and the columns version
VERSION = "SELECT value FROM state WHERE key = 'columns_version'"
CURRENT = ("SELECT s.data FROM columns_snapshot s JOIN state v ON v.key = 'columns_version' "
           "AND v.value = CAST(s.version AS TEXT) WHERE s.name = 'columns'")
FRESH = CURRENT.replace("SELECT s.data", "SELECT 1")
SAVE = ("INSERT INTO columns_snapshot (name, version, data) VALUES ('columns', ?, ?) ON CONFLICT (name) DO UPDATE "
        "SET version = excluded.version, data = excluded.data")

log = logging.getLogger(__name__)


def _pack_strings(strings: Sequence[str]) -> Dict[str, numpy.ndarray]:
    encoded = [text.encode("utf-8", "surrogatepass") for text in strings]
    return {"bytes": numpy.frombuffer(b"".join(encoded), numpy.uint8),
            "lengths": numpy.array([len(text) for text in encoded], numpy.int64)}


def _unpack_strings(data: numpy.ndarray, lengths: numpy.ndarray) -> List[str]:
    blob, ends = data.tobytes(), numpy.cumsum(lengths).tolist()
    if lengths.ndim != 1 or (len(ends) and (ends[-1] != len(blob) or lengths.min() < 0)):
        raise ValueError("strings of the wrong lengths")
    return [blob[start:end].decode("utf-8", "surrogatepass") for start, end in zip([0] + ends[:-1], ends)]


def pack(columns: Columns) -> bytes:
    """The full ``columns`` (every number, text, label with counts, label event) as one ``.npz`` blob."""
    codes, logins = numpy.full((len(columns.number_table), len(TEXTS)), -1, numpy.int32), {}
    for i, column in enumerate(columns.text_columns):
        codes[:, i] = [-1 if login is None else logins.setdefault(login, len(logins)) for login in column.tolist()]
    names = list(columns.counts)
    arrays = {"numbers": columns.number_table, "texts": codes, "events": columns.events,
              "label_uses": numpy.array([len(columns.labels.get(name, ())) for name in names], numpy.int64),
              "label_counts": numpy.array(list(columns.counts.values()), numpy.int64),
              "label_numbers": numpy.concatenate([numpy.empty(0, numpy.int64)]
                                                 + [columns.labels[name] for name in names if name in columns.labels]),
              "timelines": numpy.array(columns.timelines, numpy.int64)}
    for key, strings in (("logins", list(logins)), ("label_names", names), ("event_names", columns.event_names),
                         ("problems", columns.problems)):
        arrays.update({f"{key}_{part}": array for part, array in _pack_strings(strings).items()})
    out = io.BytesIO()
    numpy.savez(out, **arrays)
    return out.getvalue()


def unpack(blob: bytes) -> Columns:
    """The full columns of a ``pack`` blob; ValueError (or zipfile's, numpy's errors) when it is damaged."""
    with numpy.load(io.BytesIO(bytes(blob)), allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    strings = {key: _unpack_strings(arrays[f"{key}_bytes"], arrays[f"{key}_lengths"])
               for key in ("logins", "label_names", "event_names", "problems")}
    numbers, codes, events = arrays["numbers"], arrays["texts"], arrays["events"]
    uses, label_numbers = arrays["label_uses"], arrays["label_numbers"]
    names = strings["label_names"]
    if (numbers.dtype != numpy.int64 or numbers.shape[1:] != (len(NUMBERS),) or codes.shape != (len(numbers), len(TEXTS))
            or events.dtype != numpy.int64 or events.ndim != 2 or events.shape[1] != 3 or uses.shape != (len(names),)
            or arrays["label_counts"].shape != (len(names),) or uses.sum() != len(label_numbers)
            or (codes.size and not -1 <= codes.min() <= codes.max() < len(strings["logins"]))
            or (len(events) and not 0 <= (events[:, 2] >> 3).min() <= (events[:, 2] >> 3).max()
                < len(strings["event_names"]))):
        raise ValueError("arrays of the wrong shape")
    logins = numpy.array(strings["logins"] + [None], dtype=object)
    ends = numpy.cumsum(uses)
    labels = {name: label_numbers[end - use:end] for name, use, end in zip(names, uses.tolist(), ends.tolist())}
    return Columns(tuple(NUMBERS), tuple(TEXTS), numbers, tuple(logins[codes[:, i]] for i in range(len(TEXTS))),
                   labels, strings["problems"], dict(zip(names, arrays["label_counts"].tolist())),
                   int(arrays["timelines"]), events, tuple(strings["event_names"]))


def select(full: Columns, numbers: Sequence[str], texts: Sequence[str], labels: Optional[Sequence[str]],
           counts: bool, events: Optional[Sequence[str]]) -> Columns:
    """What ``derived.read`` gives for these arguments, taken from the full columns."""
    wanted_numbers = [full.numbers.index(name) for name in numbers]
    table = full.number_table if wanted_numbers == list(range(len(full.numbers))) else \
        full.number_table[:, wanted_numbers]
    text_columns = tuple(full.text_columns[full.texts.index(name)] for name in texts)
    wanted = tuple(labels) if labels is not None else None
    labelled = {name: uses for name, uses in full.labels.items() if name.startswith(wanted)} \
        if wanted is not None else None
    chosen = {"events": None, "event_names": ()}
    if events is not None:
        kept = [code for code, name in enumerate(full.event_names) if name.startswith(tuple(events))]
        chosen = {"events": full.events, "event_names": full.event_names} if len(kept) == len(full.event_names) \
            else _events_of(full, kept)
    return Columns(tuple(numbers), tuple(texts), table, text_columns, labelled, list(full.problems),
                   dict(full.counts) if counts else None, full.timelines, **chosen)


def _events_of(full: Columns, kept: List[int]) -> dict:
    """The events of the labels coded ``kept``, recoded to their place in ``kept``."""
    recode = numpy.full(len(full.event_names), -1, numpy.int64)
    recode[kept] = numpy.arange(len(kept))
    code = recode[full.events[:, 2] >> 3] if len(full.events) else numpy.empty(0, numpy.int64)
    picked = full.events[code >= 0]
    picked[:, 2] = (code[code >= 0] << 3) | (picked[:, 2] & 7)
    return {"events": picked, "event_names": tuple(full.event_names[code] for code in kept)}


def current(store) -> Optional[Columns]:
    """The full columns of the store's snapshot when it is current (None: none, stale, or damaged)."""
    if store.version < SNAPSHOT_AT:
        return None
    rows = store.execute(CURRENT)
    if not rows:
        return None
    try:
        return unpack(rows[0][0])
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, IndexError) as error:
        log.warning("store %s: its columns snapshot is damaged (%s): reading the columns by SQL; the next export "
                    "or update rewrites it", store.name, error)
        return None


def read(store, numbers: Sequence[str], texts: Sequence[str], labels: Optional[Sequence[str]], counts: bool,
         events: Optional[Sequence[str]]) -> Columns:
    """``derived.read``'s columns, from the snapshot when it is current, else by SQL."""
    full = current(store)
    if full is None:
        return derived.read(store, numbers, texts, labels, counts, events)
    return select(full, numbers, texts, labels, counts, events)


def refresh(store) -> bool:
    """Rewrite the snapshot unless it is current (a store before it: nothing); whether it was rewritten."""
    if store.version < SNAPSHOT_AT or store.execute(FRESH):
        return False
    ((version,),) = store.execute(VERSION)  # before the columns: a write made meanwhile leaves it stale
    full = derived.read(store, tuple(NUMBERS), tuple(TEXTS), ("",), True, ("",))
    blob = pack(full)
    with store.transaction():
        store.execute(SAVE, (int(version), blob))
    return True
