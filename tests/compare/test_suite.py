"""``search compare`` over several spaces: per-space options, the ``default`` method, the summary, bad input."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from search.compare import CompareConfig, CompareResult, MethodResult
from search.compare._config import parse_methods, parse_per_space, resolve_method
from search.compare._run import SuiteResult
from search.compare._summary import summarize_suite
from search.compare._table import format_summary
from search.engine import samplers
from search.errors import UsageError

TINY = Path(__file__).parents[1] / "fixture_spaces" / "tiny.py"
SUGGESTED = {"units": 6, "activation": "tanh", "lr": 0.05}


@pytest.fixture
def suggested_tiny(tmp_path):
    """``tiny`` with one SUGGESTED configuration, as the space ``suggested_tiny``."""
    path = tmp_path / "suggested_tiny.py"
    path.write_text(TINY.read_text() + f"\n\nSUGGESTED = [{SUGGESTED!r}]\n")
    return str(path)


def test_two_spaces_give_per_space_results_a_summary_and_default_runs_suggested_first(
        run_cli, suggested_tiny, isolated_home, tmp_path):
    code, out, err = run_cli(
        "compare", f"{TINY},{suggested_tiny}", "--samplers", "default,tpe+sha,kt-random", "--budget-trials", "2",
        "--epochs", "1", "--target", "tiny=1000", "--target", "suggested_tiny=900", "--set", "activation=tanh",
        "--set", "suggested_tiny:noise=0.0", "--format", "json",
    )
    assert code == 0, err
    report = json.loads(out)
    spaces = {s["space"]: s for s in report["spaces"]}
    assert list(spaces) == ["tiny", "suggested_tiny"]
    assert spaces["tiny"]["target"] == 1000 and spaces["suggested_tiny"]["target"] == 900
    assert [m["method"] for m in spaces["tiny"]["methods"]] == ["default", "tpe+sha", "kt-random"]
    default = spaces["tiny"]["methods"][0]
    assert (default["sampler"], default["pruner"]) == (samplers.DEFAULT_SAMPLER, samplers.DEFAULT_PRUNER)
    assert spaces["tiny"]["methods"][1]["pruner"] == "sha"
    assert "tiny: default repeat 0: 2 trials" in err and "suggested_tiny: kt-random repeat 0" in err

    summary = report["summary"]
    rows = {r["method"]: r for r in summary["rows"]}
    assert [r["space"] for r in summary["references"]] == ["tiny", "suggested_tiny"]
    assert all(r["method"] == "kt-random" for r in summary["references"])
    assert rows["kt-random"]["geomean"] == pytest.approx(1.0)
    for row in rows.values():  # every method reached both targets: exact ratios, no lower bound
        assert set(row["ratios"]) == {"tiny", "suggested_tiny"} and row["lower_bound"] is False
        ratios = [r["value"] for r in row["ratios"].values()]
        assert row["geomean"] == pytest.approx(math.sqrt(ratios[0] * ratios[1]))

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{isolated_home / 'mlflow.db'}")
    parents = {s: client.get_run(spaces[s]["parent_run_id"]) for s in spaces}
    assert parents["tiny"].data.params["fixed.activation"] == "tanh"  # a shared --set: every space declaring it
    assert parents["suggested_tiny"].data.params["fixed.activation"] == "tanh"
    assert parents["tiny"].data.params["setting.noise"] == "0.1"  # a scoped --set: that space only
    assert parents["suggested_tiny"].data.params["setting.noise"] == "0.0"
    traces = Path(client.download_artifacts(spaces["suggested_tiny"]["parent_run_id"], "compare.json", str(tmp_path)))
    first = {t["method"]: t["points"][0]["values"] for t in json.loads(traces.read_text())["traces"]}
    assert {k: first["default"][k] for k in SUGGESTED} == SUGGESTED  # the space's SUGGESTED, then the sampler
    assert first["tpe+sha"]["lr"] != SUGGESTED["lr"]

    suite = client.get_run(summary["suite_run_id"])
    assert client.get_experiment(suite.info.experiment_id).name == "compare-suite"
    assert suite.data.params["parent_run.tiny"] == spaces["tiny"]["parent_run_id"]
    assert suite.data.metrics["geomean_tpe_sha"] == pytest.approx(rows["tpe+sha"]["geomean"])
    assert suite.data.metrics["geomean_kt-random_lower_bound"] == 0
    assert "summary.json" in {a.path for a in client.list_artifacts(suite.info.run_id)}


def _method(name: str, seconds: float | None, at_least: float | None = None) -> MethodResult:
    return MethodResult(name, 0.1, [0.1], int(seconds is not None), seconds, 1.0, 1.0, 1.0, 1.0, 10.0,
                        time_to_target_at_least=at_least)


def _result(space: str, target: float | None, *methods: MethodResult) -> CompareResult:
    return CompareResult(space, "val_loss", "min", target, 1, 1, list(methods))


def test_summary_counts_a_median_not_reached_at_its_seconds_as_a_lower_bound():
    results = [
        _result("a", 1.0, _method("tpe", 4.0), _method("kt-random", 8.0), _method("kt-hyperband", 2.0)),
        _result("b", 1.0, _method("tpe", None, at_least=30.0), _method("kt-random", None, 30.0),
                _method("kt-hyperband", 3.0)),
    ]
    summary = summarize_suite(results)
    assert [(r.space, r.method, r.seconds) for r in summary.references] == [("a", "kt-hyperband", 2.0),
                                                                            ("b", "kt-hyperband", 3.0)]
    rows = {r.method: r for r in summary.rows}
    assert rows["tpe"].ratios["a"].value == 2.0 and rows["tpe"].ratios["b"].lower_bound
    assert rows["tpe"].geomean == pytest.approx(math.sqrt(2.0 * 10.0)) and rows["tpe"].lower_bound
    assert rows["kt-hyperband"].geomean == pytest.approx(1.0) and not rows["kt-hyperband"].lower_bound
    text = format_summary(SuiteResult(results, summary, "run1"))
    assert ">4.47" in text and "reference (1): a kt-hyperband 2.0 s; b kt-hyperband 3.0 s" in text
    assert ">: a lower bound" in text


def test_summary_leaves_out_a_space_without_reference_and_says_why():
    results = [
        _result("a", 1.0, _method("tpe", 4.0), _method("kt-random", 2.0)),
        _result("b", 1.0, _method("tpe", 4.0)),
        _result("c", 1.0, _method("tpe", 4.0), _method("kt-random", None, 9.0)),
        _result("d", None, _method("tpe", None), _method("kt-random", None)),
    ]
    summary = summarize_suite(results)
    assert [r.why for r in summary.references] == [
        None, "no kt-* method ran", "no kt-* method's median reached the target 1", "no --target"]
    assert summary.rows[0].ratios.keys() == {"a"} and summary.rows[0].geomean == 2.0
    assert "left out (no kt-* method ran)" in format_summary(SuiteResult(results, summary))

    none = summarize_suite(results[1:])
    assert none.why and "b: no kt-* method ran" in none.why and all(r.geomean is None for r in none.rows)
    assert "no figure: no space has a reference" in format_summary(SuiteResult(results[1:], none))


def test_method_names_sampler_plus_pruner_and_default():
    assert resolve_method("tpe+sha", "median") == resolve_method("tpe+sha", "none")
    method = resolve_method("tpe+sha", "median")
    assert (method.sampler, method.pruner, method.suggested, method.kt) == ("tpe", "sha", False, False)
    assert resolve_method("random", "median").pruner == "median"
    assert resolve_method("kt-hyperband", "median").kt
    assert parse_methods("default,tpe+median,tpe+sha") == ("default", "tpe+median", "tpe+sha")
    assert "default" in parse_methods(None)
    with pytest.raises(UsageError, match=r"^Unknown pruner 'bogus' in --samplers 'tpe\+bogus'; accepted: asha, "):
        parse_methods("tpe+bogus")
    for bad in ("kt-random+sha", "default+sha", "grid"):
        with pytest.raises(UsageError, match=re.escape(f"Unknown sampler '{bad}' in --samplers")):
            parse_methods(bad)


def test_default_reads_search_runs_sampler_and_pruner_when_resolved(monkeypatch):
    monkeypatch.setattr(samplers, "DEFAULT_SAMPLER", "random")
    monkeypatch.setattr(samplers, "DEFAULT_PRUNER", "percentile")
    method = resolve_method("default", "median")
    assert (method.sampler, method.pruner, method.suggested) == ("random", "percentile", True)


def test_per_space_options_parse_and_resolve():
    assert parse_per_space("epochs", ["20", "iq_combiner=40"], int) == {"": 20, "iq_combiner": 40}
    config = CompareConfig(spaces=("iq_combiner", "spaces/x.py"), epochs={"": 5, "x": 7}, targets={"x": 0.5},
                           budget_seconds={"": 30.0, "x": 60.0}, sets={"lr": "0.1", "x:units": "4"})
    assert config.space_names == ["iq_combiner", "x"]
    assert (config.epochs_of("iq_combiner"), config.epochs_of("x")) == (5, 7)
    assert (config.target("iq_combiner"), config.target("x")) == (None, 0.5)
    assert (config.seconds("iq_combiner"), config.seconds("x"), config.trials("x")) == (30.0, 60.0, None)
    assert config.sets_for("x") == ({"lr": "0.1"}, {"units": "4"})
    assert config.sets_for("iq_combiner") == ({"lr": "0.1"}, {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tiny.py,nowhere"], "Unknown space 'nowhere'; accepted: "),
        (["tiny.py,tiny.py"], "The spaces name 'tiny' twice"),
        (["tiny.py,s.py", "--set", "bogus=1"], "Unknown --set name 'bogus' for spaces 'tiny', 's'; accepted: "),
        (["tiny.py,s.py", "--set", "s:bogus=1"], "Unknown --set name 'bogus' for space 's'; accepted: "),
        (["tiny.py,s.py", "--set", "other:units=4"], "--set other:units=... names a space not compared; compared: tiny, s."),
        (["tiny.py,s.py", "--set", "units=99"], "Invalid --set units=99; accepted: 2 to 8."),
        (["tiny.py,s.py", "--target", "other=1"], "--target other=... names a space not compared; compared: tiny, s."),
        (["tiny.py,s.py", "--target", "tiny=abc"], "Invalid --target 'tiny=abc'; expected a number or SPACE=NUMBER."),
        (["tiny.py,s.py", "--target", "1e-3"], "A plain --target 0.001 needs one space; give SPACE=VALUE for each of: tiny, s."),
        (["tiny.py,s.py", "--target", "tiny=1", "--target", "tiny=2"], "--target is given twice for space 'tiny'"),
        (["tiny.py,s.py", "--epochs", "s=0"], "--epochs must be a positive integer, got 0."),
        (["tiny.py,s.py", "--budget-seconds", "tiny=30"], "--budget-seconds gives no budget for space 's'"),
        (["s.py", "--samplers", "tpe+bogus"], "Unknown pruner 'bogus' in --samplers 'tpe+bogus'"),
        (["bad.py", "--samplers", "default"], "SUGGESTED of space 'bad': units=99 is outside the space; accepted: "),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run_cli, isolated_home, tmp_path, args, message):
    (tmp_path / "tiny.py").write_text(TINY.read_text())
    (tmp_path / "s.py").write_text(TINY.read_text())
    (tmp_path / "bad.py").write_text(TINY.read_text() + "\nSUGGESTED = [{'units': 99}]\n")
    code, out, err = run_cli("compare", *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (isolated_home / "mlflow.db").exists() and not isolated_home.exists()
