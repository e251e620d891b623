"""Every kept fuzz input (fuzz/corpus/: seeds from real traffic, and each crash once
fixed) through its target, on every run: the differential checks and invariants of
fuzz/targets.py hold for all of them. The fuzzing itself is scripts/fuzz."""

from __future__ import annotations

import pytest

from fuzz.targets import TARGETS

from .helpers import ROOT

CORPUS = ROOT / "fuzz" / "corpus"
INPUTS = sorted(path for path in CORPUS.glob("*/*") if path.is_file())


def test_every_target_has_seeds_and_every_folder_a_target():
    folders = {path.name for path in CORPUS.iterdir() if path.is_dir()}
    assert folders == set(TARGETS)
    for name in TARGETS:
        assert any((CORPUS / name).glob("seed-*")), name


@pytest.mark.parametrize("path", INPUTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_kept_input(path):
    TARGETS[path.parent.name](path.read_bytes())
