"""``fasth2/_speedups.pyi`` types both twins: every public name, with the same signature."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import fasth2
from fasth2 import _speedups_py, speedups

from .test_speedups import IMPLEMENTATIONS, impl  # noqa: F401  (the fixture)

STUB = ast.parse((Path(fasth2.__file__).parent / "_speedups.pyi").read_text())
STUB_ALL = next(ast.literal_eval(node.value) for node in STUB.body
                if isinstance(node, ast.Assign) and node.targets[0].id == "__all__")
STUB_DEFS = {node.name: node for node in STUB.body
             if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
#: Classes whose pure twin is a builtin that names no parameters (threading's lock):
#: there only the methods' presence is checked (test_speedups holds the behaviour).
BUILTIN_TWINS = {"Lock"}


def stub_parameters(function: ast.FunctionDef) -> list[tuple[str, object]]:
    """(name, default) of a stub function's parameters, ``self`` left out."""
    arguments = function.args.args
    defaults = [inspect.Parameter.empty] * (len(arguments) - len(function.args.defaults))
    defaults += [ast.literal_eval(default) for default in function.args.defaults]
    return [(argument.arg, default) for argument, default in zip(arguments, defaults)
            if argument.arg != "self"]


def real_parameters(function) -> list[tuple[str, object]]:
    return [(name, parameter.default)
            for name, parameter in inspect.signature(function).parameters.items()
            if name != "self"]


def test_the_twins_and_the_chooser_export_what_the_stub_types():
    compiled = IMPLEMENTATIONS[1].values[0]
    assert _speedups_py.__all__ == STUB_ALL
    if compiled is not None:
        assert compiled.__all__ == STUB_ALL
    assert set(STUB_ALL) == set(STUB_DEFS)
    for name in STUB_ALL:
        assert getattr(speedups, name) is getattr(speedups.implementation, name)


@pytest.mark.parametrize("name", [name for name in STUB_ALL
                                  if isinstance(STUB_DEFS[name], ast.FunctionDef)])
def test_functions_have_the_stubs_signature(impl, name):
    assert real_parameters(getattr(impl, name)) == stub_parameters(STUB_DEFS[name])


@pytest.mark.parametrize("name", [name for name in STUB_ALL
                                  if isinstance(STUB_DEFS[name], ast.ClassDef)])
def test_classes_have_the_stubs_constructor_methods_and_attributes(impl, name):
    cls = getattr(impl, name)
    body = STUB_DEFS[name].body
    methods = {node.name: node for node in body if isinstance(node, ast.FunctionDef)}
    init = stub_parameters(methods.pop("__init__"))
    unnamed = impl is _speedups_py and name in BUILTIN_TWINS
    if impl is _speedups_py and not unnamed:
        assert real_parameters(cls) == init
    # A compiled class does not expose its __init__'s signature: it must at least take
    # every parameter by the stub's name.
    instance = cls(**dict(init))
    for method, node in methods.items():
        if unnamed:
            assert callable(getattr(instance, method)), method
            continue
        assert real_parameters(getattr(instance, method)) == stub_parameters(node)
    for node in body:
        if isinstance(node, ast.AnnAssign):
            assert hasattr(instance, node.target.id), node.target.id
