"""Grid search for ``k8s-mlp``: each grid point is an independent unit of work.

Point ``i`` of ``grid()`` trains on the training data and scores on its
newest ``validation`` share (never on a test slice), then writes
``out_dir/point-i.json`` atomically, so points can run anywhere in any order,
e.g. one per Kubernetes Indexed Job pod (``JOB_COMPLETION_INDEX``).
``summarize(out_dir)`` keeps the best by validation accuracy + F1 (the
threshold's own objective). The axes are the recipe's knobs: the MLP's
width, dropout and features, the char member's longest n-gram, and the C of
the word and char logistic regressions.
"""
import dataclasses
import itertools
import json
import pathlib
import time
from typing import List, Optional, Sequence

from . import classifier
from .artifacts import write_json

AXES = {
    "units": [16, 32, 64],
    "dropout": [0.3, 0.5],
    "top_k": [4000, 8000, 20000],
    "char_max": [4, 5],
    "c_word": [1.0, 2.0, 4.0],
}


def grid() -> List[dict]:
    """Every combination of AXES, in a fixed order (index = position)."""
    names = list(AXES)
    return [dict(zip(names, values)) for values in itertools.product(*AXES.values())]


def point_params(index: int, base: Optional[classifier.Params] = None) -> classifier.Params:
    points = grid()
    if not 0 <= index < len(points):
        raise ValueError(f"grid index must be in 0..{len(points) - 1}, got {index}")
    return dataclasses.replace(base or classifier.Params(), **points[index])


def run_point(index: int, texts: Sequence[str], label_lists: Sequence[Sequence[str]], out_dir,
              labels: Sequence[str] = ("kind/bug",), base: Optional[classifier.Params] = None) -> dict:
    """Train grid point ``index``, write and return its validation scores."""
    params = point_params(index, base)
    started = time.perf_counter()
    predictor, validation = classifier.train(texts, label_lists, list(labels), params)
    result = {
        "index": index,
        "params": axes_of(params),
        "f1": validation["f1"],
        "accuracy": validation["accuracy"],
        "threshold": predictor.threshold,
        "seconds": round(time.perf_counter() - started, 2),
    }
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"point-{index}.json", result)
    return result


def axes_of(params: classifier.Params) -> dict:
    return {name: getattr(params, name) for name in AXES}


def summarize(out_dir) -> dict:
    """The points done so far, best first, the best one and why; lists missing indices."""
    out = pathlib.Path(out_dir)
    rows = [json.loads(path.read_text()) for path in out.glob("point-*.json")]
    if not rows:
        raise ValueError(f"no tuning results (point-*.json) in {out}; run `k8s-analysis tune --index I --out {out}`")
    # best validation accuracy + F1; ties go to the smaller network, then to the lower index
    rows.sort(key=lambda row: (-round(row["accuracy"] + row["f1"], 6), row["params"]["units"], row["index"]))
    best = rows[0]
    runner_up = (f"; next best {rows[1]['accuracy'] + rows[1]['f1']:.4f} (point {rows[1]['index']})"
                 if len(rows) > 1 else "")
    done = {row["index"] for row in rows}
    return {
        "rows": rows,
        "best": best,
        "missing": [i for i in range(len(grid())) if i not in done],
        "why": f"point {best['index']} has the highest validation accuracy + F1 ({best['accuracy'] + best['f1']:.4f}: "
               f"accuracy {best['accuracy']:.4f}, F1 {best['f1']:.4f}) of {len(rows)} points{runner_up}",
    }


def table(summary: dict) -> str:
    """The summary as a text table, best first."""
    head = "  ".join(f"{name:>9}" for name in ["index", *AXES, "f1", "accuracy", "threshold", "seconds"])
    lines = [head]
    for row in summary["rows"]:
        values = [row["index"], *(row["params"][name] for name in AXES), f"{row['f1']:.4f}", f"{row['accuracy']:.4f}",
                  row["threshold"], row["seconds"]]
        lines.append("  ".join(f"{value:>9}" for value in values))
    return "\n".join(lines)
