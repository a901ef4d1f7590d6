"""The dffml compat layer reproduces Python 3.8's behaviour, and a model moves between the two stacks."""
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import NamedTuple

import numpy as np
import pytest

from dffml_k8s_analysis import dffml_compat

from conftest import ROOT, emulated_notes


def test_every_patch_this_python_needs_is_applied():
    import dffml  # noqa: F401  (the import applies them)
    from dffml.df import types  # noqa: F401

    needed = [p.name for p in dffml_compat.AT_DFFML_IMPORT + dffml_compat.AFTER_DF_TYPES
              if sys.version_info[:2] >= p.needed_from]
    assert dffml_compat.applied == needed and len(needed) == 4


def test_namedtuple_extra_bases_are_dropped_as_on_3_8():
    from dffml.df.base import BaseOrchestratorConfig
    from dffml.df.types import Operation

    assert Operation.__mro__[1:] == (tuple, object)
    assert BaseOrchestratorConfig.__mro__[1:] == (tuple, object)
    assert Operation(name="x").name == "x" and Operation._field_defaults["stage"].value == "processing"


def test_outside_dffml_namedtuple_rules_are_untouched():
    class Base:
        pass

    with pytest.raises(TypeError, match="can only inherit from a NamedTuple"):
        class Mixed(NamedTuple, Base):
            x: int


def test_a_dffml_dataclass_shares_its_default_object_as_on_3_8():
    from dffml.feature import Features
    from dffml.source.df import DataFlowSourceConfig

    features = {f.name: f for f in dataclasses.fields(DataFlowSourceConfig)}["features"]
    assert isinstance(features.default, Features)
    with pytest.raises(ValueError, match="mutable default"):
        @dataclasses.dataclass
        class Outside:
            values: Features = dataclasses.field(default=Features())


class Spec(NamedTuple):
    name: str
    count: int = 3


def test_a_definition_with_a_spec_exports_and_round_trips():
    from dffml.df.types import Definition

    definition = Definition(name="thing", primitive="map", spec=Spec)
    exported = definition.export()
    assert exported["spec"] == {"name": "Spec", "types": {"name": "str", "count": "int"}, "defaults": {"count": 3}}
    again = Definition._fromdict(**json.loads(json.dumps(exported)))
    assert again == definition and again.spec._fields == ("name", "count")
    assert again.spec(name="a") == ("a", 3)


def test_an_untested_python_is_refused_in_one_line():
    with pytest.raises(dffml_compat.CompatError, match=r"tested on Python 3\.11 to 3\.13, not 3\.14"):
        dffml_compat.check_python((3, 14, 0))
    dffml_compat.check_python((3, 12, 1))


def test_a_patch_that_cannot_apply_names_itself(monkeypatch):
    monkeypatch.setattr(dffml_compat, "applied", [])
    broken = dffml_compat.Patch("example-patch", (3, 0), lambda: {}["missing"])
    with pytest.raises(dffml_compat.CompatError, match="example-patch: cannot apply on Python"):
        dffml_compat._apply([broken])


def test_the_bare_dffml_command_imports_through_the_start_up_hook():
    dffml = pathlib.Path(sys.executable).parent / "dffml"
    result = subprocess.run([str(dffml), "version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dffml-config-yaml" in result.stdout


def other_stack() -> pathlib.Path:
    """The python of the other stack's venv, or skip."""
    here = pathlib.Path(sys.executable).parent.parent.name
    other = ROOT / (".venv-other" if here == ".venv" else ".venv") / "bin" / "python"
    if not other.exists():
        pytest.skip(f"no {other.parent.parent.name} to move a model to: make test builds it after this suite when a "
                    "Python of the other stack is found (3.11 for .venv-other beside 3.12/3.13; docs/setup.md)")
    return other


PREDICT = textwrap.dedent("""
    import json, sys
    from dffml_k8s_analysis.model import artifacts
    print(json.dumps(artifacts.load_predictor(sys.argv[1]).predict(json.loads(sys.argv[2]))))
""")
TRAIN = textwrap.dedent("""
    import sys
    from dffml_k8s_analysis.model import artifacts, classifier
    from conftest import SMALL, emulated_notes
    texts, labels = emulated_notes(400)
    artifacts.save(sys.argv[1], classifier.train(list(texts), list(labels), ["kind/bug"], SMALL)[0], {})
""")


def test_a_model_moves_between_the_stacks_with_the_same_probabilities(tmp_path, model_dir):
    from dffml_k8s_analysis.model import artifacts

    python = other_stack()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), TF_CPP_MIN_LOG_LEVEL="3")
    texts = list(next(iter(emulated_notes(300))))[:40] + ["", "fix a crash"]
    there = subprocess.run([str(python), "-c", PREDICT, str(model_dir), json.dumps(texts)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert there.returncode == 0, there.stderr
    here = artifacts.load_predictor(model_dir).predict(texts)
    assert np.allclose(json.loads(there.stdout), here, atol=1e-5, rtol=0)

    trained = subprocess.run([str(python), "-c", TRAIN, str(tmp_path / "there")],
                             capture_output=True, text=True, env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr
    there = subprocess.run([str(python), "-c", PREDICT, str(tmp_path / "there"), json.dumps(texts)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert np.allclose(json.loads(there.stdout), artifacts.load_predictor(tmp_path / "there").predict(texts), atol=1e-5, rtol=0)


def test_dffml_stock_tfdnnc_trains_through_dffml_train(tmp_path):
    import importlib.util

    if importlib.util.find_spec("dffml_model_tensorflow") is None:
        pytest.skip("dffml-model-tensorflow is on the default stack only (it needs tf.estimator, TensorFlow < 2.16)")
    rows = ["x,y"] + [f"{x / 100:.2f},{int(x > 0)}" for x in range(-100, 100, 2)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    model = ["-model", "tfdnnc", "-model-predict", "y:int:1", "-model-features", "x:float:1", "-model-classifications",
             "0", "1", "-model-clstype", "int", "-model-hidden", "8", "-model-directory", str(tmp_path / "model")]
    sources = ["-sources", "f=csv", "-source-filename", str(tmp_path / "train.csv"), "-log", "critical"]
    dffml = str(pathlib.Path(sys.executable).parent / "dffml")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    trained = subprocess.run([dffml, "train", *model, "-model-steps", "300", "-model-epochs", "10", *sources],
                             capture_output=True, text=True, env=env, timeout=300)
    assert trained.returncode == 0, trained.stderr
    scored = subprocess.run([dffml, "accuracy", *model, *sources], capture_output=True, text=True, env=env, timeout=300)
    assert scored.returncode == 0, scored.stderr
    assert float(scored.stdout.strip().splitlines()[-1]) >= 0.85
