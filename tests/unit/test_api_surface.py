"""The package's public surface: what `__all__` lists resolves, and nothing loads early."""

from __future__ import annotations

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
    # The stages live in reconciler.pipeline: importing one must not shadow the API's names.
    import reconciler.pipeline.apply
    import reconciler.pipeline.plan

    assert callable(reconciler.plan) and callable(reconciler.apply)
    assert reconciler.plan.__module__ == reconciler.apply.__module__ == "reconciler.api"


def test_import_reconciler_loads_nothing_else() -> None:
    code = (
        "import sys, reconciler\n"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
