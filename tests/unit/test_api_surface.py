"""The package's public surface: what `__all__` lists resolves, and nothing loads early."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import reconciler


@pytest.mark.parametrize("name", reconciler.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(reconciler, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        reconciler.nothing_here  # noqa: B018


def test_the_functions_are_the_api_not_the_stage_modules() -> None:
    # The stages live in reconciler._pipeline: importing one must not shadow the API's names.
    import reconciler._pipeline.apply
    import reconciler._pipeline.plan

    assert callable(reconciler.plan) and callable(reconciler.apply)
    assert reconciler.plan.__module__ == reconciler.apply.__module__ == "reconciler._api"


def test_import_reconciler_loads_nothing_else() -> None:
    code = (
        "import sys, reconciler\n"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_every_module_but_the_package_itself_is_private() -> None:
    # What is not in `__all__` may change in any version: its modules say so by their names.
    public = [
        info.name
        for info in pkgutil.walk_packages(reconciler.__path__, "reconciler.")
        if not info.name.removeprefix("reconciler.").startswith("_")
    ]
    assert public == []
