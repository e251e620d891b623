"""The modules compiled as they are (setup.py's TYPED_TWINS) and their ``.pxd`` files.

A class of such a module stores exactly the fields its ``.pxd`` declares when compiled,
and its ``__slots__`` when not: the two lists must be the same, or the compiled build
fails (an attribute it has no field for) where the pure one works. This holds them
together on both builds, with the class named in the message.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import fasth2
from fasth2 import speedups, twins

PACKAGE = Path(fasth2.__file__).parent
TYPED = ["body", "exchange", "gateway", "handoff", "http1", "memory", "protocol",
         "requestcount", "stream", "threadpool", "wsgi"]  # (fasth2._<name>_c)


def declared_fields(pxd: Path) -> dict[str, set[str]]:
    """Each ``cdef class`` of a .pxd and the names of its ``cdef`` fields."""
    fields: dict[str, set[str]] = {}
    current = None
    for line in pxd.read_text().splitlines():
        if line.startswith("cdef class "):
            current = fields.setdefault(re.match(r"cdef class (\w+)", line).group(1), set())
        elif current is not None and line.startswith("    cdef "):
            names = re.sub(r"^\s+cdef (public |readonly )?\w+ ", "", line)
            current.update(name.strip() for name in names.split(","))
    return fields


def slotted_classes(source: Path) -> dict[str, set[str]]:
    """Each class of a module that has ``__slots__``, and its slots."""
    classes = {}
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == "__slots__":
                    classes[node.name] = set(ast.literal_eval(item.value))
    return classes


@pytest.mark.parametrize("name", TYPED)
def test_each_pxd_declares_its_classes_slots(name):
    declared = declared_fields(PACKAGE / f"_{name}_c.pxd")
    slotted = slotted_classes(PACKAGE / f"{name}.py")
    assert declared, "the .pxd declares no class"
    for cls, fields in declared.items():
        assert slotted.get(cls) == fields, f"{name}.py's {cls}: __slots__ and .pxd differ"


def test_twins_lists_every_typed_module_and_serves_the_build():
    """twins.py picks from every typed module: the compiled one when the speedups are."""
    # (EMPTY_BODY is an instance: compiled, only its type names a module)
    served = {getattr(getattr(twins, name), "__module__", None)
              or type(getattr(twins, name)).__module__ for name in twins.__all__}
    assert served == {f"fasth2._{name}_c" if speedups.COMPILED else f"fasth2.{name}"
                      for name in TYPED}
    if speedups.COMPILED:  # every compiled module is an extension, its classes types
        for name in TYPED:
            module = importlib.import_module(f"fasth2._{name}_c")
            assert module.__file__.endswith(".so")
            for cls in declared_fields(PACKAGE / f"_{name}_c.pxd"):
                with pytest.raises(AttributeError):  # (no __dict__: fields only)
                    getattr(module, cls).__new__(getattr(module, cls)).not_a_field = 1
