"""What a study runs first (--enqueue, --warm-start, SUGGESTED) and --target, end to end on real stores."""

from __future__ import annotations

import json
import re

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.records import keys
from search.study.worker import run_worker

FREE = ("units", "activation", "lr")  # the tiny space's hyperparameters (noise is a setting)


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_mod.resolve().storage_url)


def _values(trial: optuna.trial.FrozenTrial) -> dict:
    return {k: v for k, v in keys.values_of(trial).items() if k in FREE}


def _suggesting_space(tmp_path, space_path, suggested: str, name: str = "tiny_suggested"):
    path = tmp_path / f"{name}.py"
    path.write_text(open(space_path("tiny")).read() + f"\nSUGGESTED = {suggested}\n")
    return str(path)


def test_enqueued_configurations_run_first_count_once_and_are_not_repeated_on_resume(tmp_path, space_path):
    first = [{"units": 4, "activation": "tanh", "lr": 0.01}, {"units": 6, "activation": "relu", "lr": 0.002},
             {"units": 8, "activation": "relu", "lr": 0.05}]
    path = tmp_path / "first.json"
    path.write_text(json.dumps(first))
    config = dict(space=space_path("tiny"), study="enq", epochs=1, progress=False, enqueue=str(path))
    result = run_study(StudyConfig(**config, trials=2))
    study = _study("enq")
    ran = [t for t in study.trials if t.state != TrialState.WAITING]
    # The budget counts trials that ran: the third configuration waits, and does not use the budget.
    assert result.complete + result.pruned == 2 and len(ran) == 2
    assert [_values(t) for t in ran] == first[:2]
    assert {t.user_attrs[keys.ENQUEUED] for t in ran} == {"file first.json"}
    run_study(StudyConfig(**config, trials=4))  # resumed with the same file: nothing enqueued twice
    study = _study("enq")
    assert [_values(t) for t in study.trials[:3]] == first
    assert sum(keys.ENQUEUED in t.user_attrs for t in study.trials) == 3
    assert len(study.trials) == 4 and study.trials[3].state != TrialState.WAITING


@pytest.mark.parametrize("content, message", [
    ('[{"units": 3}]', r"--enqueue .*first.json: units=3 is outside the space; accepted: an integer from 2 to 8 in steps of 2\."),
    ('{"units": 4, "lr": 0.5}', r"lr=0.5 is outside the space; accepted: a number from 0.001 to 0.1\."),
    ('[{"units": 4}, {"activation": "elu"}]', r"configuration 2: activation='elu' is outside the space; accepted: one of 'relu', 'tanh'\."),
    ('{"unit": 4}', r"'unit' is not a hyperparameter of the space; accepted: activation, lr, noise, units\."),
    ('{"noise": 0.0}', r"noise=0.0 is outside the space; accepted: fixed to 0.1\."),
    ('[4]', r"expected a JSON object of hyperparameter values, or a list of them"),
    ('{"units": ', r"not JSON \(Expecting value at line 1"),
])
def test_a_bad_enqueue_file_is_one_line_and_exit_2_before_anything_is_written(
        run_cli, isolated_home, tmp_path, space_path, content, message):
    path = tmp_path / "first.json"
    path.write_text(content)
    code, out, err = run_cli("run", space_path("tiny"), "--trials", "1", "--enqueue", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (isolated_home / "optuna.db").exists() and not (isolated_home / "mlflow.db").exists()


def test_warm_start_runs_the_other_studys_best_first_and_shows_tpe_the_rest(run_cli, space_path):
    run_study(StudyConfig(space=space_path("tiny"), study="before", trials=4, epochs=1, progress=False))
    before = _study("before")
    best = sorted((t for t in before.trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)[:2]
    code, out, err = run_cli("run", space_path("tiny"), "--study", "after", "--trials", "3", "--epochs", "1",
                             "--warm-start", "before:2", "--seed", "7")
    assert code == 0, err
    after = _study("after")
    assert [_values(t) for t in after.trials[:2]] == [_values(t) for t in best]
    assert [t.user_attrs[keys.ENQUEUED] for t in after.trials[:2]] == [f"study before trial {t.number}" for t in best]
    assert after.user_attrs[keys.STUDY_WARM_START] == {"study": "before", "best": [t.number for t in best]}

    # Every process that opens the study (a resumed run, each worker) gives TPE the rest as priors.
    from search.space.loader import load_space
    from search.study.create import open_study_storage
    from search.study.first_trials import study_sampler
    from search.study.plan import make_setup

    setup = make_setup(load_space(space_path("tiny")), {"noise": 0.1}, {}, 1, 7)
    sampler = study_sampler("tpe", 7, after.user_attrs, open_study_storage(storage_mod.resolve().storage_url)[0], setup)
    finished = [t for t in before.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(sampler.priors) == len(finished) - 2
    assert all(p.number < 0 for p in sampler.priors)
    assert {tuple(sorted(p.params.items())) for p in sampler.priors} == {
        tuple(sorted(t.params.items())) for t in finished if t.number not in {b.number for b in best}}
    # The priors inform the sampler; they never become trials of the study.
    assert all(t.number >= 0 for t in after.trials)


def test_warm_start_from_an_unknown_study_another_space_or_itself_is_refused(run_cli, space_path):
    run_study(StudyConfig(space=space_path("tiny"), study="tiny-one", trials=1, epochs=1, progress=False))
    cases = [
        (("--warm-start", "nope"), r"Unknown study 'nope' in --warm-start; studies there: tiny-one\."),
        (("--warm-start", "tiny-one:0"), r"Invalid --warm-start 'tiny-one:0'; expected STUDY or STUDY:K"),
        (("--study", "tiny-one", "--warm-start", "tiny-one"), r"names the study being run"),
    ]
    for args, message in cases:
        code, out, err = run_cli("run", space_path("tiny"), "--trials", "2", "--epochs", "1", *args)
        assert code == 2 and re.search(message, err), err
    code, out, err = run_cli("run", space_path("classifier"), "--trials", "1", "--epochs", "1",
                             "--warm-start", "tiny-one")
    assert code == 2 and "--warm-start 'tiny-one' is a study of space 'tiny', not 'classifier'." in err
    assert [s.study_name for s in optuna.get_all_study_summaries(storage_mod.resolve().storage_url)] == ["tiny-one"]
    assert len(_study("tiny-one").trials) == 1


def test_suggested_configurations_run_first_unless_turned_off(tmp_path, space_path, run_cli):
    space = _suggesting_space(tmp_path, space_path, '[{"units": 2, "activation": "tanh", "lr": 0.004}]')
    run_study(StudyConfig(space=space, study="sug", trials=2, epochs=1, progress=False))
    study = _study("sug")
    assert _values(study.trials[0]) == {"units": 2, "activation": "tanh", "lr": 0.004}
    assert study.trials[0].user_attrs[keys.ENQUEUED] == "SUGGESTED"
    assert keys.ENQUEUED not in study.trials[1].user_attrs
    run_study(StudyConfig(space=space, study="plain", trials=1, epochs=1, progress=False, suggested=False))
    assert keys.ENQUEUED not in _study("plain").trials[0].user_attrs
    # A --set value comes first: a suggestion made with another value is left out, one that agrees runs.
    run_study(StudyConfig(space=space, study="set4", trials=1, epochs=1, progress=False, sets={"units": "4"}))
    assert keys.ENQUEUED not in _study("set4").trials[0].user_attrs
    run_study(StudyConfig(space=space, study="set2", trials=1, epochs=1, progress=False, sets={"units": "2"}))
    assert _study("set2").trials[0].user_attrs[keys.ENQUEUED] == "SUGGESTED"

    bad = _suggesting_space(tmp_path, space_path, '[{"units": 2, "optimizer": "adam"}]', "tiny_bad")
    code, out, err = run_cli("run", bad, "--study", "bad", "--trials", "1")
    assert code == 2
    assert "SUGGESTED of space 'tiny_bad': 'optimizer' is not a hyperparameter of the space" in err


def test_shipped_spaces_suggest_configurations_inside_their_spaces():
    from search.engine import warm
    from search.space.loader import list_spaces, load_space
    from search.space.sets import resolve_sets
    from search.study.first_trials import checking_space
    from search.study.plan import Setup

    for name in list_spaces():
        space = load_space(name)
        for setting, values in space.settings.items():
            for value in values:
                settings, fixed = resolve_sets(space, {setting: str(value)})
                setup = Setup(space.with_settings(settings), settings, fixed, space.epochs, 0, None)
                configs = warm.check_configs(checking_space(setup), space.suggested(settings), name)
                assert configs, f"{name} with {setting}={value} suggests nothing"


def test_target_stops_the_trial_at_the_answer_and_the_study_with_every_worker(run_cli, space_path):
    code, out, err = run_cli("run", space_path("tiny"), "--study", "tgt", "--trials", "5", "--epochs", "3",
                             "--target", "1000", "--no-suggested")
    assert code == 0, err
    assert "stopped: target 1000 reached" in out
    study = _study("tgt")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]
    assert list(study.trials[0].intermediate_values) == [0]  # stopped at its first epoch, COMPLETE
    assert study.user_attrs[keys.STUDY_TARGET] == 1000
    client = MlflowClient(storage_mod.resolve().tracking_uri)
    parent = client.get_run(study.user_attrs[keys.STUDY_PARENT_RUN_ID])
    assert parent.data.tags[keys.TAG_STOPPED] == "target reached"
    assert parent.info.status == "FINISHED"
    # A worker joining the study takes no new trial: the answer is there.
    result = run_worker("tgt", progress=False)
    assert result.complete == 1 and len(_study("tgt").trials) == 1
    # Nor does a resumed run, which keeps the stored target.
    code, out, err = run_cli("run", space_path("tiny"), "--study", "tgt", "--trials", "6", "--no-suggested")
    assert code == 0 and "stopped: target 1000 reached" in out and len(_study("tgt").trials) == 1

    code, out, err = run_cli("run", space_path("tiny"), "--trials", "1", "--target", "nan")
    assert code == 2 and "--target must be a finite number, got nan." in err
