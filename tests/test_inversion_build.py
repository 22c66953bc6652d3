"""The shipped inversion build: staged members resume each other and check their stages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from instrument.errors import ConfigError
from instrument.inversion.model import load_inversion_model
from training.inversion.build import SHIPPED_MEMBERS, MemberRecipe, train_member
from training.inversion.train import InversionTrainConfig

#: A tiny first stage that stops after its first epoch (the budget is crossed at once).
FIRST = InversionTrainConfig(arch="conv6xl", epochs=5, steps_per_epoch=2, batch_size=4, val_count=8,
                             patience=0, width_scale=0.1, max_minutes=1e-4)


def test_a_later_stage_resumes_the_earlier_one_with_its_own_schedule(tmp_path: Path) -> None:
    second = dataclasses.replace(FIRST, epochs=3, learning_rate=5e-4, max_minutes=10.0)
    member = MemberRecipe("tiny", (FIRST, second))
    path = train_member(member, tmp_path / "tiny")
    training = load_inversion_model(path).meta["training"]
    assert training["epochs_run"] == 3 and training["learning_rate"] == 5e-4
    state = json.loads((tmp_path / "tiny" / "state.json").read_text())
    assert state["epoch"] == 3 and len(state["history"]["loss"]) == 3
    # a resumed build skips the finished first stage instead of training past its budget
    train_member(member, tmp_path / "tiny", resume=True)
    assert json.loads((tmp_path / "tiny" / "state.json").read_text())["epoch"] == 3


def test_bad_member_recipes_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="no training stages"):
        MemberRecipe("empty", ())
    with pytest.raises(ConfigError, match="inversynth/freqtcn/sigmoid"):
        MemberRecipe("mixed", (FIRST, dataclasses.replace(FIRST, arch="freqtcn", max_minutes=1.0)))
    with pytest.raises(ConfigError, match="max_minutes"):
        MemberRecipe("shorter", (FIRST, dataclasses.replace(FIRST, max_minutes=1e-5)))


def test_shipped_members_share_the_synth_and_head() -> None:
    firsts = [m.stages[0] for m in SHIPPED_MEMBERS]
    assert {(s.synth, s.arch, s.head) for s in firsts} == {("inversynth", "sweeptcn", "softmax")}
    assert len({m.name for m in SHIPPED_MEMBERS}) == len(SHIPPED_MEMBERS)
