"""The exception trees in reconciler/_errors.py's docstring are the package's exception classes:
every class defined anywhere in the package has a line, under its base class, naming the
module it lives in; every line names a class that exists."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass

import reconciler
from reconciler import _errors as errors

_FENCE = re.compile(r"^```\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_LINE = re.compile(
    r"^(?P<indent>(?:│   |    )*)(?P<branch>[├└]── )?(?P<name>[\w.]+)(?: {2,}(?P<text>\S.*))?$"
)
_WHERE = re.compile(r"^\((?P<path>[\w/]+\.py)\) ")


@dataclass(frozen=True)
class Entry:
    name: str
    parent: str | None  # None for a root
    text: str  # the description, `(module.py)` first when it lives elsewhere


def tree_entries(doc: str) -> list[Entry]:
    """The lines of every fenced tree in `doc`, each with the line it hangs from."""
    entries: list[Entry] = []
    for block in _FENCE.findall(doc):
        path: list[str] = []  # the names from the root down to the line above
        for line in block.splitlines():
            match = _LINE.match(line)
            assert match, f"not a tree line: {line!r}"
            depth = len(match["indent"]) // 4 + (1 if match["branch"] else 0)
            assert depth <= len(path), f"a line deeper than the one above it: {line!r}"
            assert bool(match["branch"]) == (depth > 0), f"a branch without a parent: {line!r}"
            del path[depth:]
            entries.append(Entry(match["name"], path[-1] if path else None, match["text"] or ""))
            path.append(match["name"])
    return entries


def package_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package, by name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if module_info.name.endswith(".__main__"):
            continue  # importing it runs the command line
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                assert found.get(cls.__name__, cls) is cls, f"two classes named {cls.__name__}"
                found[cls.__name__] = cls
    return found


def label(cls: type) -> str:
    """How the tree names a class: bare in the package or builtins, else `library.Name`."""
    if cls.__module__ == "builtins" or cls.__module__.startswith("reconciler."):
        return cls.__name__
    return f"{cls.__module__.partition('.')[0]}.{cls.__name__}"


def module_path(cls: type) -> str:
    return cls.__module__.removeprefix("reconciler.").replace(".", "/") + ".py"


def problems(classes: dict[str, type[BaseException]], entries: list[Entry]) -> list[str]:
    """Every way the trees and the classes disagree, one line each."""
    found: list[str] = []
    by_name = {entry.name: entry for entry in entries}
    if len(by_name) != len(entries):
        found.append("a name is on two lines of the trees")
    for name, cls in sorted(classes.items()):
        entry = by_name.get(name)
        if entry is None:
            found.append(f"{name} ({module_path(cls)}) has no line in errors.py's trees")
            continue
        base = cls.__bases__[0]
        inside = classes.get(base.__name__) is base
        expected = base.__name__ if inside else label(base)
        root = entry.parent is None and base is Exception  # ReconcileError heads its own tree
        if entry.parent != expected and not root:
            found.append(f"{name} is under {entry.parent}, its base is {label(base)}")
        where = _WHERE.match(entry.text)
        home = None if cls.__module__ == errors.__name__ else module_path(cls)
        if (where["path"] if where else None) != home:
            should = f"say ({home})" if home else "name no module: it is in errors.py"
            found.append(f"{name}'s line should {should}")
    outside = {entry.parent for entry in entries if entry.name in classes}
    for entry in entries:
        if entry.name not in classes and not (entry.parent is None and entry.name in outside):
            found.append(f"{entry.name} is on a line but is no exception class of the package")
        if entry.parent is not None and not entry.text:
            found.append(f"{entry.name} has no description")
    return found


ENTRIES = tree_entries(errors.__doc__ or "")
CLASSES = package_exceptions()


def test_the_trees_list_every_exception_class_under_its_base() -> None:
    assert len(CLASSES) > 20 and len(ENTRIES) > len(CLASSES)
    assert problems(CLASSES, ENTRIES) == []


def test_a_new_class_without_a_line_fails() -> None:
    class NewError(errors.RegistryError):
        pass

    NewError.__module__ = "reconciler._registry.new"
    assert problems({**CLASSES, "NewError": NewError}, ENTRIES) == [
        "NewError (_registry/new.py) has no line in errors.py's trees"
    ]


def test_a_line_under_the_wrong_base_or_module_fails() -> None:
    doc = (errors.__doc__ or "").replace(
        "│   └── Refused              (_cli/commands/run.py)",
        "└── Refused              (_cli/main.py)",
    )
    assert problems(CLASSES, tree_entries(doc)) == [
        "Refused is under ReconcileError, its base is GuardError",
        "Refused's line should say (_cli/commands/run.py)",
    ]


def test_a_line_without_a_class_fails() -> None:
    doc = (errors.__doc__ or "").replace("│   ├── LockHeld", "│   ├── LockHold")
    assert problems(CLASSES, tree_entries(doc)) == [
        "LockHeld (_cli/lock.py) has no line in errors.py's trees",
        "LockHold is on a line but is no exception class of the package",
    ]


def test_the_public_errors_are_the_ones_defined_there() -> None:
    defined = {name for name, cls in CLASSES.items() if cls.__module__ == errors.__name__}
    assert set(errors.__all__) == defined
