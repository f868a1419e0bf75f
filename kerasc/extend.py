"""extend: convert a model that contains your own Keras layer class, without editing kerasc.

A plugin is a Python module that registers, for each custom class, a lowering (the layer's config and
weights -> an IR Node) and a Jinja template that emits the Node's C (one `<kind>.c.j2` per node kind, in a
directory of the plugin's). Registered, the class is a layer like kerasc's own: convert, verify (against
the Keras class, which keras_bridge passes to Keras as a custom object), inspect, gates, bench, the
self-test, float16/int8 weights and the layers table all read it from the same registry.

    from kerasc.extend import Context, LayerDoc, LayerRecord, Mask, Node, Option, StateVar, check_options, \\
        register_layer

    @register_layer("AttentionAverage", doc=LayerDoc(...), kinds=("attention_average",),
                    template_dir=Path(__file__).parent, mask=Mask.TAKE,
                    keras_class="attention_average:AttentionAverage")
    def attention_average(rec: LayerRecord, ctx: Context) -> Node:
        ...

How a plugin is loaded (docs/extending.md): from Python, import it (import = registration); on the command
line, `--plugin MODULE` or `--plugin FILE.py` (repeatable), or the KERASC_PLUGINS variable (a
os.pathsep-separated list of the same); and every installed distribution's entry points in the group
`kerasc.layers` (each names a module to import), unless KERASC_NO_PLUGINS is set.

examples/custom_layer/ is the complete worked example, tested end to end by tests/tools/test_extend.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from .errors import ConversionError
from .ir import CArray, Node, StateVar
from .layers import (CUSTOM, REGISTRY, TRAITS, Context, Handler, LayerDoc, LayerTraits, Mask, Option, check_options,
                     expect_weights, flag, positive_int, register, unregister)
from .load import LayerRecord

__all__ = ["register_layer", "unregister_layer", "load_plugin", "load_plugins", "load_entry_points", "plugins",
           "custom_objects", "ENTRY_POINT_GROUP", "Context", "LayerDoc", "LayerRecord", "LayerTraits",
           "Mask", "Option", "Node", "StateVar", "CArray", "ConversionError", "check_options", "expect_weights",
           "flag", "positive_int"]

ENTRY_POINT_GROUP = "kerasc.layers"

# Keras class name -> the Keras class (or "module:attr", or a function of the Keras package returning the
# class), for keras_bridge's custom_objects; and -> the plugin that registered it (shown by inspect).
_KERAS_CLASSES: dict[str, Union[type, str, Callable[[Any], type]]] = {}
_PLUGIN_OF: dict[str, str] = {}
_LOADED: dict[str, str] = {}  # plugin spec -> module name (each loaded once)


def register_layer(class_name: str, *, doc: LayerDoc, kinds: tuple[str, ...], template_dir: Union[str, Path],
                   mask: Mask = Mask.DROP, keras_class: Union[type, str, Callable[[Any], type], None] = None,
                   traits: Optional[LayerTraits] = None) -> Callable[[Handler], Handler]:
    """Register the lowering of custom Keras class `class_name` (the decorated function: LayerRecord, Context ->
    Node) and the templates of its node kinds (`<kind>.c.j2` in template_dir).

    keras_class: the Keras class itself, "module:attr" (imported only when Keras loads a file: convert needs no
    TensorFlow), or a function of the Keras package (keras, or tf_keras for Keras 2 files) that returns the class.
    verify, the self-test and bench load files with it as a custom object. traits: further LayerTraits fields
    (tokens, in_width, call_args, ...); kinds, mask and template_dir override its fields.

    Refused, naming the clash: a class kerasc converts itself, a kind of kerasc's own (its template would
    shadow the plugin's), a kind another class registered, a missing template."""
    import dataclasses

    from ._resources import templates_dir

    if not isinstance(class_name, str) or not class_name.isidentifier():
        raise ConversionError(f"register_layer: class name {class_name!r} is not a Python identifier")
    if class_name in REGISTRY and class_name not in _PLUGIN_OF:
        raise ConversionError(f"register_layer: {class_name!r} is a layer kerasc converts itself; a plugin "
                              "registers classes kerasc does not know (name your class differently)")
    if not kinds or not all(isinstance(k, str) and k.isidentifier() for k in kinds):
        raise ConversionError(f"register_layer({class_name!r}): kinds must be one or more identifiers, got {kinds!r}")
    tdir = Path(template_dir)
    own = templates_dir() / "layers"
    taken = _kind_owners()
    for k in kinds:
        if (own / f"{k}.c.j2").exists():
            raise ConversionError(f"register_layer({class_name!r}): kind {k!r} is one of kerasc's own node kinds; "
                                  "choose another name (e.g. prefixed with your project's)")
        if taken.get(k, class_name) != class_name:
            raise ConversionError(f"register_layer({class_name!r}): kind {k!r} is registered already, by "
                                  f"{taken[k]!r}")
        if not (tdir / f"{k}.c.j2").is_file():
            raise ConversionError(f"register_layer({class_name!r}): no template {tdir / f'{k}.c.j2'} for kind {k!r}")
    if not isinstance(doc, LayerDoc):
        raise ConversionError(f"register_layer({class_name!r}): doc must be a kerasc.extend.LayerDoc")
    base = traits if traits is not None else LayerTraits()
    full = dataclasses.replace(base, kinds=tuple(kinds), mask=mask, template_dir=tdir.resolve())

    def deco(fn: Handler) -> Handler:
        if not callable(fn):
            raise ConversionError(f"register_layer({class_name!r}) decorates the lowering function")
        register(class_name, doc=doc, traits=full)(fn)
        CUSTOM.add(class_name)
        _PLUGIN_OF[class_name] = getattr(inspect.getmodule(fn), "__name__", "?")
        if keras_class is not None:
            _KERAS_CLASSES[class_name] = keras_class
        _codegen_cache_clear()
        return fn

    return deco


def unregister_layer(*class_names: str) -> None:
    """Forget custom classes (a test's); kerasc's own layers are refused."""
    for c in class_names:
        if c in REGISTRY and c not in _PLUGIN_OF:
            raise ConversionError(f"unregister_layer: {c!r} is one of kerasc's own layers")
        unregister(c)
        _PLUGIN_OF.pop(c, None)
        _KERAS_CLASSES.pop(c, None)
    _codegen_cache_clear()


def _kind_owners() -> dict[str, str]:
    return {k: c for c, t in TRAITS.items() for k in t.kinds}


def _codegen_cache_clear() -> None:
    """Jinja caches compiled templates by name; a re-registered kind must be read again."""
    from . import codegen

    codegen.environment.cache_clear()


def plugins() -> dict[str, str]:
    """Custom class -> the module that registered it."""
    return dict(_PLUGIN_OF)


def custom_objects(framework: Any = None) -> dict[str, type]:
    """The Keras classes of the registered plugins, for load_model(custom_objects=...), keyed by class name.
    framework: the Keras package loading the file (keras or tf_keras), for classes given as a function of it."""
    out: dict[str, type] = {}
    for name, spec in _KERAS_CLASSES.items():
        obj: Any = spec
        if isinstance(spec, str):
            mod, _, attr = spec.partition(":")
            try:
                obj = getattr(importlib.import_module(mod), attr or name)
            except (ImportError, AttributeError) as exc:
                raise ConversionError(f"the Keras class of custom layer {name!r} ({spec!r}, registered by "
                                      f"{_PLUGIN_OF.get(name, '?')}) cannot be imported: {exc}") from None
        if callable(obj) and not isinstance(obj, type):
            obj = obj(framework)
        if not isinstance(obj, type):
            raise ConversionError(f"the Keras class of custom layer {name!r} is not a class: {obj!r}")
        out[name] = obj
        registered = getattr(getattr(framework, "saving", None), "get_registered_name", None)
        if registered is not None:  # Keras looks a registered class up by "package>Class"
            out[registered(obj)] = obj
    return out


def load_plugin(spec: str) -> str:
    """Import a plugin: a module name (`mypkg.kerasc_layers`, found on sys.path) or a path to a .py file
    (imported under its file name; its directory joins sys.path so it can import its neighbours, such as the
    module defining the Keras class). Returns the module name; loading the same plugin twice is a no-op."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConversionError(f"--plugin {spec!r}: give a module name or a .py file")
    if spec in _LOADED and _LOADED[spec] in sys.modules:
        return _LOADED[spec]
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec).expanduser()
        if not path.is_file() or path.suffix != ".py":
            raise ConversionError(f"--plugin {spec}: no such Python file")
        name = path.stem
        if not name.isidentifier():
            raise ConversionError(f"--plugin {spec}: the file name must be a Python module name")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        existing = sys.modules.get(name)
        if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != path.resolve():
            raise ConversionError(f"--plugin {spec}: a different module named {name!r} is imported already")
        module_name = name
    else:
        module_name = spec
    try:
        importlib.import_module(module_name)
    except ConversionError as exc:
        raise ConversionError(f"plugin {spec}: {exc}") from None
    except Exception as exc:  # the plugin's own code failed: say where, not a traceback into kerasc
        raise ConversionError(f"plugin {spec} could not be imported: {type(exc).__name__}: {exc}") from None
    _LOADED[spec] = module_name
    return module_name


def load_plugins(specs: Iterable[str] = (), *, environment: bool = True) -> list[str]:
    """The CLI's plugins: entry points of group `kerasc.layers` and KERASC_PLUGINS (unless KERASC_NO_PLUGINS is
    set), then `specs` (--plugin). Returns the module names loaded."""
    out = []
    if environment and not os.environ.get("KERASC_NO_PLUGINS"):
        out += load_entry_points()
        out += [load_plugin(s) for s in os.environ.get("KERASC_PLUGINS", "").split(os.pathsep) if s.strip()]
    out += [load_plugin(s) for s in specs]
    return out


def load_entry_points() -> list[str]:
    """Import every module named by an installed distribution's entry points in group `kerasc.layers`
    (pyproject.toml: [project.entry-points."kerasc.layers"] my_layers = "mypkg.kerasc_layers")."""
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in _LOADED:
            continue
        try:
            ep.load()
        except ConversionError as exc:
            raise ConversionError(f"plugin {ep.value} (entry point {ep.name!r} of {ENTRY_POINT_GROUP}): {exc}") from None
        except Exception as exc:
            raise ConversionError(f"plugin {ep.value} (entry point {ep.name!r} of {ENTRY_POINT_GROUP}) could not be "
                                  f"imported: {type(exc).__name__}: {exc}; set KERASC_NO_PLUGINS=1 to skip "
                                  "installed plugins") from None
        _LOADED[ep.value] = ep.value.partition(":")[0]
        out.append(_LOADED[ep.value])
    return out

