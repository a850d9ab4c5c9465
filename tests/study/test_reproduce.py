"""`search reproduce`: a trial trained again from its recorded configuration and seed, compared epoch by epoch."""

from __future__ import annotations

import pytest

SHIPPED = [("iq_combiner", ["--set", "n_train=256"]), ("prototype_rbf", ["--set", "dataset=iris"]),
           ("bounded_activation", [])]


@pytest.mark.parametrize("space, sets", SHIPPED, ids=[s for s, _ in SHIPPED])
def test_a_cpu_trial_of_each_shipped_space_is_reproduced(run_cli, space, sets):
    code, _, err = run_cli("run", space, "--trials", "1", "--epochs", "2", "--pruner", "none", "--no-suggested", *sets)
    assert code == 0, err
    code, out, err = run_cli("reproduce", space, "0")
    assert code == 0, err
    head, verdict = out.splitlines()
    assert head.startswith(f"trial 0 of {space}: 2 epochs of ") and "again with seed 0" in head
    assert verdict == "reproduced"


def test_a_trial_whose_model_draws_outside_the_seed_is_not_reproduced_and_says_where(run_cli, space_path):
    code, _, err = run_cli("run", space_path("unseeded"), "--trials", "1", "--pruner", "none")
    assert code == 0, err
    code, out, err = run_cli("reproduce", "unseeded", "0")
    assert code == 1, err
    assert out.splitlines()[1].startswith("not reproduced (first differs at epoch 1: recorded ")


def test_a_trial_that_cannot_be_compared_is_refused_in_one_line(run_cli, space_path):
    code, _, err = run_cli("run", space_path("tiny"), "--trials", "1", "--epochs", "1", "--pruner", "none")
    assert code == 0, err
    code, out, err = run_cli("reproduce", "tiny", "5")
    assert (code, out, err) == (2, "", "error: Unknown trial 5 in study 'tiny'; trials there: 0 to 0.\n")
    code, out, err = run_cli("reproduce", "tiny", "0", "--tolerance", "-1")
    assert (code, err) == (2, "error: --tolerance must be a finite number >= 0, got -1.0.\n")
