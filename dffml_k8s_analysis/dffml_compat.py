"""Make dffml 0.4.0.post2 (its last release, written for Python 3.7/3.8) import and run on 3.11–3.13.

dffml relies on four things that Python 3.8 allowed and later versions refuse. Each patch below
puts back exactly what 3.8 did, only for dffml's own modules, only on the Pythons that need it:

| patch | dffml code | 3.9+ says | 3.8 did |
| --- | --- | --- | --- |
| ``namedtuple-extra-bases`` | ``class Operation(NamedTuple, Entrypoint)`` | "can only inherit from a NamedTuple type and Generic" | dropped the extra base |
| ``dataclass-shared-default`` | ``field(default=Features())`` in ``@config`` classes | "mutable default ... use default_factory" | one shared default object |
| ``namedtuple-field-types`` | ``Definition.export`` reads ``spec._field_types`` | AttributeError | NamedTuples had ``_field_types`` |
| ``namedtuple-from-type`` | ``Definition._fromdict`` calls ``type(name, (NamedTuple,), ns)`` | "type() doesn't support MRO entry resolution" | built the NamedTuple |

:func:`install` is called at interpreter start-up by ``dffml_k8s_analysis-compat.pth``, which the
package's own build puts in site-packages, so ``k8s-analysis``, the bare ``dffml`` command, the
tests and the image all get it. It only registers an import hook: the patches apply when dffml is
first imported. A patch that cannot apply raises :class:`CompatError` naming itself; a Python
newer than the newest tested is refused the same way.
"""
import copy
import dataclasses
import importlib.abc
import sys
import types
import typing
from typing import Callable, List, NamedTuple

TESTED = ((3, 11), (3, 13))  # oldest and newest Python this project is tested on

applied: List[str] = []  # names of the patches in force, in the order they were applied


class CompatError(RuntimeError):
    """dffml cannot be made to work on this Python."""


class Patch(NamedTuple):
    name: str
    needed_from: tuple  # the first Python version that needs it
    apply: Callable[[], None]


def _is_dffml(module_name: str) -> bool:
    return module_name == "dffml" or module_name.startswith("dffml.")


def _namedtuple_extra_bases() -> None:
    meta = getattr(typing, "NamedTupleMeta", None)
    root = getattr(typing, "_NamedTuple", None)
    if meta is None or root is None:
        raise CompatError("namedtuple-extra-bases: typing.NamedTupleMeta or typing._NamedTuple not found")
    original = meta.__new__

    def __new__(cls, typename, bases, ns):
        if _is_dffml(ns.get("__module__", "")):
            bases = tuple(base for base in bases if base is root or base is typing.Generic)
        return original(cls, typename, bases, ns)

    meta.__new__ = __new__


def _dataclass_shared_default() -> None:
    original = getattr(dataclasses, "_get_field", None)
    if original is None:
        raise CompatError("dataclass-shared-default: dataclasses._get_field not found")

    def _get_field(cls, a_name, a_type, *args):
        declared = cls.__dict__.get(a_name)
        default = getattr(declared, "default", None)
        shared = (
            _is_dffml(cls.__module__)
            and isinstance(declared, dataclasses.Field)
            and type(default).__hash__ is None
            and not isinstance(default, (list, dict, set))  # what 3.8 refused
        )
        if not shared:
            return original(cls, a_name, a_type, *args)
        declared.default = a_name  # any hashable value passes the check; the real one goes back
        try:
            made = original(cls, a_name, a_type, *args)
        finally:
            declared.default = default
        made.default = default
        return made

    dataclasses._get_field = _get_field


def _namedtuple_field_types(df_types: types.ModuleType) -> None:
    original = df_types.Definition.export

    def export(self):
        spec = self.spec
        if spec is not None and not hasattr(spec, "_field_types"):
            spec._field_types = dict(spec.__annotations__)
        return original(self)

    df_types.Definition.export = export


def _namedtuple_from_type(df_types: types.ModuleType) -> None:
    original = df_types.Definition._fromdict.__func__

    def _fromdict(cls, **kwargs):
        if "spec" not in kwargs:
            return original(cls, **kwargs)
        spec = copy.deepcopy(kwargs.pop("spec"))
        return original(cls, **kwargs)._replace(spec=_spec_class(cls, spec))

    df_types.Definition._fromdict = classmethod(_fromdict)


def _spec_class(definition: type, spec: dict) -> type:
    """The NamedTuple that an exported ``spec`` describes, fields with defaults last, as dffml built it."""
    defaults = dict(spec["defaults"])
    fields = {name: definition.type_lookup(typename) for name, typename in spec["types"].items()}
    ordered = {name: kind for name, kind in fields.items() if name not in defaults}
    ordered.update((name, kind) for name, kind in fields.items() if name in defaults)
    namespace = dict(defaults, __annotations__=ordered, __module__=definition.__module__)
    return types.new_class(spec["name"], (typing.NamedTuple,), exec_body=lambda body: body.update(namespace))


AT_DFFML_IMPORT = [
    Patch("namedtuple-extra-bases", (3, 9), _namedtuple_extra_bases),
    Patch("dataclass-shared-default", (3, 11), _dataclass_shared_default),
]
AFTER_DF_TYPES = [
    Patch("namedtuple-field-types", (3, 9), _namedtuple_field_types),
    Patch("namedtuple-from-type", (3, 9), _namedtuple_from_type),
]


def check_python(version=sys.version_info) -> None:
    """Refuse a Python outside the tested range, with the one line that says so."""
    low, high = TESTED
    if not low <= tuple(version[:2]) <= high:
        raise CompatError(
            "dffml-k8s-analysis is tested on Python %d.%d to %d.%d, not %d.%d: run scripts/setup.sh, "
            "which picks a tested one" % (*low, *high, *version[:2])
        )


def _apply(patches, *args) -> None:
    for patch in patches:
        if sys.version_info[:2] < patch.needed_from or patch.name in applied:
            continue
        try:
            patch.apply(*args)
        except CompatError:
            raise
        except Exception as error:
            raise CompatError("%s: cannot apply on Python %s: %s" % (patch.name, sys.version.split()[0], error)) from error
        applied.append(patch.name)


class _DffmlImportHook(importlib.abc.MetaPathFinder):
    """Applies the patches when dffml is first imported, and after ``dffml.df.types`` has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname == "dffml":
            check_python()
            _apply(AT_DFFML_IMPORT)
            return None
        if fullname != "dffml.df.types":
            return None
        spec = next(
            filter(None, (f.find_spec(fullname, path, target) for f in sys.meta_path if f is not self and hasattr(f, "find_spec"))),
            None,
        )
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _apply(AFTER_DF_TYPES, module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register the import hook once; safe to call again. Applies patches at once if dffml is already imported."""
    if any(isinstance(finder, _DffmlImportHook) for finder in sys.meta_path):
        return
    if "dffml" in sys.modules:
        raise CompatError("dffml was imported before the compat layer: is dffml_k8s_analysis-compat.pth installed?")
    sys.meta_path.insert(0, _DffmlImportHook())
