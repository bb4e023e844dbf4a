"""Input validation of spec v2 part B, the ``uncertainty`` block, through the real CLI.

Each test writes a small instance (the worked example with its market hashprice replaced
by scenarios), runs ``portfolio-opt validate FILE`` in a subprocess and checks the exit
code (0 valid, 2 invalid), that stderr names the file, the entity, the field, the value
found and what would be valid, and that no traceback is printed.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from portfolio_opt.errors import MISSING, InputError
from portfolio_opt.input_limits import MAX_SCENARIOS
from portfolio_opt.instance import Instance
from portfolio_opt.loader import read_document
from portfolio_opt.validate import check_instance, validate_data

ROOT = Path(__file__).parent.parent
DATA = ROOT / "tests" / "data"
_WORKED = read_document(DATA / "worked_example.yaml").data  # 4 periods


def base(structure: str = "two_stage") -> dict[str, Any]:
    """The worked example with two hashprice scenarios instead of market's hashprice."""
    doc = copy.deepcopy(_WORKED)
    del doc["market"]
    doc["uncertainty"] = {
        "scenarios": [
            {"id": "low", "probability": 0.4, "hashprice_usd_per_ph_day": [48, 30, 22, 18],
             "energy_price_scale": [1, 1.1, 1.2, 1.2]},
            {"id": "high", "probability": 0.6, "hashprice_usd_per_ph_day": [48, 52, 40, 36]},
        ],
        "structure": structure,
        "risk": {"cvar_alpha": 0.9, "cvar_weight": 0.25},
    }
    return doc


def scenarios(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["uncertainty"]["scenarios"]


def run(tmp_path: Path, doc: Any, name: str = "inst.json") -> subprocess.CompletedProcess[str]:
    """``portfolio-opt validate`` on ``doc`` (a dict written as JSON, or YAML text)."""
    path = tmp_path / name
    if isinstance(doc, str):
        path.write_text(textwrap.dedent(doc), encoding="utf-8")
    else:
        path.write_text(json.dumps(doc), encoding="utf-8")
    # This source tree's package, whatever the working directory and whatever copy is
    # installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "validate", str(path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    return proc


def valid(tmp_path: Path, doc: Any, name: str = "inst.json") -> str:
    proc = run(tmp_path, doc, name)
    assert proc.returncode == 0, proc.stderr
    assert f"{tmp_path / name}: valid" in proc.stdout
    return proc.stdout


def problems(tmp_path: Path, doc: Any, name: str = "inst.json") -> list[str]:
    """The problem lines of a rejected file (exit 2), each naming the file and saying what
    would be valid."""
    proc = run(tmp_path, doc, name)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line.strip()[2:] for line in proc.stderr.splitlines()
             if line.strip().startswith("- ")]
    assert lines, proc.stderr
    for line in lines:
        assert line.startswith(f"{tmp_path / name}: "), line
        assert "; expected " in line, line
    return lines


def problem(tmp_path: Path, doc: Any, entity: str, field: str, got: str, *expected: str,
            name: str = "inst.json", alone: bool = True) -> str:
    """The one problem line about ``entity``/``field``: it shows ``got`` and each of
    ``expected``; with ``alone``, it is the only problem of the file."""
    lines = problems(tmp_path, doc, name)
    where = f"{tmp_path / name}: {entity}, field '{field}': "
    mine = [line for line in lines if line.startswith(where)]
    assert len(mine) == 1, "\n".join(lines)
    if alone:
        assert len(lines) == 1, "\n".join(lines)
    line = mine[0]
    assert line.startswith(where + f"got {got}; expected"), line
    for text in expected:
        assert text in line, line
    return line


# --- valid files --------------------------------------------------------------------------


def test_uncertain_instance_is_valid_and_summarised(tmp_path: Path) -> None:
    out = valid(tmp_path, base())
    assert "'worked-example': 3 sites (2 AI-capable)" in out
    assert out.rstrip().endswith("4 periods, 2 scenarios (two_stage)")


def test_v1_summary_has_no_scenarios(tmp_path: Path) -> None:
    out = valid(tmp_path, _WORKED)
    assert "scenario" not in out and out.rstrip().endswith("4 periods")


@pytest.mark.parametrize("market", [None, "null", {}, "blocks"])
def test_market_absent_empty_or_only_blocks_with_uncertainty(tmp_path: Path,
                                                             market: Any) -> None:
    doc = base()
    if market == "null":
        doc["market"] = None
    elif market == "blocks":
        doc["market"] = {"blocks": [{"id": "peak", "hours_share": 0.2},
                                    {"id": "off", "hours_share": 0.8}]}
    elif market is not None:
        doc["market"] = market
    valid(tmp_path, doc)


def test_multi_stage_with_a_shared_period_1_is_valid(tmp_path: Path) -> None:
    # Period 1 compared exactly, a scalar equal to its repeated series; later periods differ.
    doc = base("multi_stage")
    scenarios(doc)[0]["hashprice_usd_per_ph_day"] = 48
    scenarios(doc)[1]["energy_price_scale"] = [1, 0.9, 0.8, 0.7]
    assert valid(tmp_path, doc).rstrip().endswith("2 scenarios (multi_stage)")


def test_defaults_bounds_and_nulls_accepted(tmp_path: Path) -> None:
    # One scenario of probability 1; structure and risk absent; cvar_alpha 0 and weight 1
    # are in range; null = absent.
    doc = base()
    doc["uncertainty"] = {"scenarios": [{"id": "only", "probability": 1,
                                         "hashprice_usd_per_ph_day": 40,
                                         "energy_price_scale": None}],
                          "structure": None, "risk": {"cvar_alpha": 0, "cvar_weight": 1}}
    assert valid(tmp_path, doc).rstrip().endswith("1 scenarios (two_stage)")
    inst = validate_data(doc)
    assert inst.uncertainty is not None and inst.uncertainty.scenarios[0].energy_price_scale == 1
    assert inst.uncertainty.risk.cvar_alpha == 0 and inst.uncertainty.risk.cvar_weight == 1


def test_probabilities_summing_to_1_within_1e_9(tmp_path: Path) -> None:
    doc = base()
    thirds = [0.3333333333, 0.3333333333, 0.3333333334]
    doc["uncertainty"]["scenarios"] = [
        {"id": f"s{i}", "probability": p, "hashprice_usd_per_ph_day": 40}
        for i, p in enumerate(thirds)]
    valid(tmp_path, doc)


def test_yaml_file_with_uncertainty(tmp_path: Path) -> None:
    text = """\
    name: yaml-uncertain
    horizon: {periods: 2}
    sites:
      - id: a
        capacity_mw: 10
        grid: {capacity_mw: 10, price_usd_per_mwh: 40}
        btc: {fleet_mw: 5, efficiency_j_per_th: 20}
    uncertainty:
      structure: multi_stage
      scenarios:
        - {id: bear, probability: 0.25, hashprice_usd_per_ph_day: [40, 20]}
        - {id: base, probability: 0.5, hashprice_usd_per_ph_day: 40}
        - {id: bull, probability: 0.25, hashprice_usd_per_ph_day: [40, 60],
           energy_price_scale: [1, 1.3]}
      risk: {cvar_alpha: 0.95}
    """
    assert valid(tmp_path, text, "inst.yaml").rstrip().endswith("3 scenarios (multi_stage)")


# --- where the hashprice comes from ---------------------------------------------------------


def test_without_uncertainty_market_hashprice_is_required(tmp_path: Path) -> None:
    doc = copy.deepcopy(_WORKED)
    del doc["market"]["hashprice_usd_per_ph_day"]
    problem(tmp_path, doc, "market", "hashprice_usd_per_ph_day",
            "nothing (the key is missing)", "expected this key (it is required)",
            "'uncertainty' block")


def test_without_uncertainty_market_with_only_blocks_needs_hashprice(tmp_path: Path) -> None:
    doc = copy.deepcopy(_WORKED)
    doc["market"] = {"blocks": [{"id": "all-hours", "hours_share": 1}]}
    problem(tmp_path, doc, "market", "hashprice_usd_per_ph_day",
            "nothing (the key is missing)", "expected this key (it is required)")


@pytest.mark.parametrize("how", ["absent", "null", "uncertainty null"])
def test_without_uncertainty_market_is_required(tmp_path: Path, how: str) -> None:
    doc = copy.deepcopy(_WORKED)
    if how == "absent":
        del doc["market"]
    elif how == "null":
        doc["market"] = None
    else:  # null = absent: no uncertainty block either
        doc = base()
        doc["uncertainty"] = None
    problem(tmp_path, doc, "document", "market", "nothing (the key is missing)",
            "expected this key (it is required)")


def test_market_not_a_mapping_is_reported_once(tmp_path: Path) -> None:
    doc = copy.deepcopy(_WORKED)
    doc["market"] = 45  # no second message saying the hashprice is missing
    (line,) = problems(tmp_path, doc)
    assert line == f"{tmp_path / 'inst.json'}: market: got 45; expected a mapping"


def test_with_uncertainty_market_hashprice_must_be_absent(tmp_path: Path) -> None:
    doc = base()
    doc["market"] = {"hashprice_usd_per_ph_day": [48, 46, 34, 27]}
    problem(tmp_path, doc, "market", "hashprice_usd_per_ph_day", "[48.0, 46.0, 34.0, 27.0]",
            "expected no hashprice_usd_per_ph_day in market with an 'uncertainty' block",
            "scenarios replace it")


def test_hashprice_given_twice_reported_even_when_the_block_is_malformed(
        tmp_path: Path) -> None:
    doc = base()
    doc["market"] = {"hashprice_usd_per_ph_day": 40}
    doc["uncertainty"]["structure"] = "three_stage"
    lines = problems(tmp_path, doc)
    assert len(lines) == 2, lines
    assert any("market, field 'hashprice_usd_per_ph_day': got 40.0; expected no" in line
               for line in lines)
    assert any("uncertainty, field 'structure': got 'three_stage'" in line for line in lines)


# --- scenarios -----------------------------------------------------------------------------


def test_duplicate_scenario_ids(tmp_path: Path) -> None:
    doc = base()
    scenarios(doc)[1]["id"] = "low"
    problem(tmp_path, doc, "scenario 'low' (uncertainty.scenarios[1])", "id", "'low'",
            "expected a scenario id used by no other scenario",
            "uncertainty.scenarios[0] already has id 'low'")


@pytest.mark.parametrize(("ident", "got", "expected"), [
    (7, "7", "expected a non-empty string, not a number (quote ids that look like numbers)"),
    ("", "''", "expected a non-empty string, not an empty one"),
    ("=cmd", "'=cmd'", "rename it, e.g. 'scenario_=cmd'"),
])
def test_scenario_id_follows_the_id_rules(tmp_path: Path, ident: Any, got: str,
                                          expected: str) -> None:
    doc = base()
    scenarios(doc)[1]["id"] = ident
    entity = ("uncertainty.scenarios[1]" if not (isinstance(ident, str) and ident)
              else f"scenario '{ident}' (uncertainty.scenarios[1])")
    problem(tmp_path, doc, entity, "id", got, expected)


def test_scenario_without_id(tmp_path: Path) -> None:
    doc = base()
    del scenarios(doc)[0]["id"]
    problem(tmp_path, doc, "uncertainty.scenarios[0]", "id", "nothing (the key is missing)",
            "expected this key (it is required)")


@pytest.mark.parametrize("probability", [0, -0.4])
def test_probability_must_be_positive(tmp_path: Path, probability: float) -> None:
    doc = base()
    scenarios(doc)[0]["probability"] = probability
    # the sum is not judged while a probability is itself invalid
    problem(tmp_path, doc, "scenario 'low' (uncertainty.scenarios[0])", "probability",
            str(probability), "expected a number > 0")


def test_probabilities_must_sum_to_1(tmp_path: Path) -> None:
    doc = base()
    scenarios(doc)[1]["probability"] = 0.5
    problem(tmp_path, doc, "uncertainty", "scenarios[].probability", "'low 0.4, high 0.5'",
            "expected probabilities that sum to 1 (within 1e-9), not 0.9")


def test_probabilities_off_by_more_than_1e_9(tmp_path: Path) -> None:
    doc = base()
    scenarios(doc)[1]["probability"] = 0.600000002
    problem(tmp_path, doc, "uncertainty", "scenarios[].probability",
            "'low 0.4, high 0.6'", "expected probabilities that sum to 1 (within 1e-9), "
            "not 1.000000002")


@pytest.mark.parametrize(("field", "series"), [
    ("hashprice_usd_per_ph_day", [48, 46]),
    ("energy_price_scale", [1, 1, 1, 1, 1]),
])
def test_scenario_series_of_wrong_length(tmp_path: Path, field: str,
                                         series: list[float]) -> None:
    doc = base()
    scenarios(doc)[1][field] = series
    problem(tmp_path, doc, "scenario 'high' (uncertainty.scenarios[1])", field,
            repr([float(x) for x in series]),
            f"expected one number or a list of exactly 4 numbers (horizon.periods), "
            f"not {len(series)}")


@pytest.mark.parametrize(("scale", "got", "expected"), [
    (0, "0", "expected a number > 0, or a list of such numbers, one per period"),
    ([1, 1, -0.5, 1], "[1, 1, -0.5, 1]",
     "expected a number > 0 in every element; element 3 (period 3) is -0.5"),
])
def test_energy_price_scale_must_be_positive(tmp_path: Path, scale: Any, got: str,
                                             expected: str) -> None:
    doc = base()
    scenarios(doc)[0]["energy_price_scale"] = scale
    problem(tmp_path, doc, "scenario 'low' (uncertainty.scenarios[0])", "energy_price_scale",
            got, expected)


def test_scenario_hashprice_must_be_non_negative_numbers(tmp_path: Path) -> None:
    doc = base()
    scenarios(doc)[1]["hashprice_usd_per_ph_day"] = [48, "52", 40, 36]
    problem(tmp_path, doc, "scenario 'high' (uncertainty.scenarios[1])",
            "hashprice_usd_per_ph_day", "[48, '52', 40, 36]",
            "expected a number, not a string in every element; element 2 (period 2) is '52'")


def test_scenario_without_hashprice(tmp_path: Path) -> None:
    doc = base()
    del scenarios(doc)[1]["hashprice_usd_per_ph_day"]
    problem(tmp_path, doc, "scenario 'high' (uncertainty.scenarios[1])",
            "hashprice_usd_per_ph_day", "nothing (the key is missing)",
            "expected this key (it is required)")


@pytest.mark.parametrize("value", [[], None])
def test_at_least_one_scenario(tmp_path: Path, value: Any) -> None:
    doc = base()
    doc["uncertainty"]["scenarios"] = value
    if value == []:
        problem(tmp_path, doc, "uncertainty", "scenarios", "[]",
                "expected at least one scenario {id, probability, hashprice_usd_per_ph_day}")
    else:  # null on a required key
        problem(tmp_path, doc, "uncertainty", "scenarios", "null", "expected a list")


def test_too_many_scenarios(tmp_path: Path) -> None:
    n = MAX_SCENARIOS + 1
    doc = base()
    doc["uncertainty"]["scenarios"] = [
        {"id": f"s{i}", "probability": 1 / n, "hashprice_usd_per_ph_day": 40}
        for i in range(n)]
    problem(tmp_path, doc, "uncertainty", "scenarios", f"'{n:,} scenarios'",
            f"expected at most {MAX_SCENARIOS:,} scenarios")
    # the limit itself is accepted
    doc["uncertainty"]["scenarios"] = doc["uncertainty"]["scenarios"][:MAX_SCENARIOS]
    for s in doc["uncertainty"]["scenarios"]:
        s["probability"] = 1 / MAX_SCENARIOS
    inst = validate_data(doc)
    assert inst.uncertainty is not None and len(inst.uncertainty.scenarios) == MAX_SCENARIOS


# --- multi_stage: one root ---------------------------------------------------------------


def test_multi_stage_scenarios_share_period_1_hashprice(tmp_path: Path) -> None:
    doc = base("multi_stage")
    scenarios(doc)[1]["hashprice_usd_per_ph_day"] = [48.5, 52, 40, 36]
    problem(tmp_path, doc, "scenario 'high' (uncertainty.scenarios[1])",
            "hashprice_usd_per_ph_day", "[48.5, 52.0, 40.0, 36.0]",
            "expected period 1 equal to that of the first scenario, "
            "scenario 'low' (uncertainty.scenarios[0]): 48, not 48.5",
            "structure: two_stage")


def test_multi_stage_scenarios_share_period_1_scale_exactly(tmp_path: Path) -> None:
    # The default scale 1 of 'high' against 1.0000001 of 'low': compared exactly.
    doc = base("multi_stage")
    scenarios(doc)[0]["energy_price_scale"] = 1
    scenarios(doc)[1]["energy_price_scale"] = [1.0000001, 1, 1, 1]
    problem(tmp_path, doc, "scenario 'high' (uncertainty.scenarios[1])",
            "energy_price_scale", "[1.0000001, 1.0, 1.0, 1.0]",
            "scenario 'low' (uncertainty.scenarios[0]): 1, not 1.0000001")


def test_two_stage_allows_different_period_1(tmp_path: Path) -> None:
    doc = base("two_stage")
    scenarios(doc)[1]["hashprice_usd_per_ph_day"] = 60
    valid(tmp_path, doc)


# --- structure, risk and keys --------------------------------------------------------------


def test_unknown_structure(tmp_path: Path) -> None:
    doc = base()
    doc["uncertainty"]["structure"] = "multistage"
    problem(tmp_path, doc, "uncertainty", "structure", "'multistage'",
            "expected 'two_stage' or 'multi_stage'")


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("cvar_alpha", 1, "expected a number >= 0 and < 1"),
    ("cvar_alpha", -0.1, "expected a number >= 0 and < 1"),
    ("cvar_weight", 1.5, "expected a number >= 0 and <= 1"),
    ("cvar_weight", True, "expected a number, not a boolean"),
])
def test_risk_ranges(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    doc = base()
    doc["uncertainty"]["risk"][field] = value
    got = "true" if value is True else str(value)
    problem(tmp_path, doc, "uncertainty", f"risk.{field}", got, expected)


@pytest.mark.parametrize(("where", "entity", "field", "allowed"), [
    ((), "uncertainty", "scenario", "scenarios, structure, risk"),
    (("risk",), "uncertainty", "risk.cvar_beta", "cvar_alpha, cvar_weight"),
    (("scenarios", 1), "scenario 'high' (uncertainty.scenarios[1])", "hashprice",
     "id, probability, hashprice_usd_per_ph_day, energy_price_scale"),
])
def test_unknown_keys_list_the_allowed_ones(tmp_path: Path, where: tuple[Any, ...],
                                            entity: str, field: str, allowed: str) -> None:
    doc = base()
    target = doc["uncertainty"]
    for part in where:
        target = target[part]
    target[field.rsplit(".", 1)[-1]] = 3
    problem(tmp_path, doc, entity, field, "3", f"expected one of the keys {allowed} "
            "(an unknown key is an error")


def test_uncertainty_must_be_a_mapping(tmp_path: Path) -> None:
    doc = base()
    doc["uncertainty"] = [1]
    (line,) = problems(tmp_path, doc)
    assert line == f"{tmp_path / 'inst.json'}: uncertainty: got [1]; expected a mapping"


# --- one bad field does not hide another ---------------------------------------------------


def test_every_problem_reported_in_one_run(tmp_path: Path) -> None:
    # A bad probability in 'low', a series of the wrong length and a different period 1 in
    # 'high', an unknown risk key and a bad market hashprice: each reported, nothing twice,
    # and no false sum error while a probability is invalid.
    doc = base("multi_stage")
    scenarios(doc)[0]["probability"] = "0.4"
    scenarios(doc)[1]["hashprice_usd_per_ph_day"] = [50, 52]
    doc["uncertainty"]["risk"]["alpha"] = 0.9
    doc["market"] = {"blocks": [{"id": "b", "hours_share": 0.5}]}
    lines = problems(tmp_path, doc)
    expected = [
        "scenario 'low' (uncertainty.scenarios[0]), field 'probability': got '0.4'",
        "uncertainty, field 'risk.alpha': got 0.9",
        "scenario 'high' (uncertainty.scenarios[1]), field 'hashprice_usd_per_ph_day': got "
        "[50.0, 52.0]; expected one number or a list of exactly 4 numbers",
        "scenario 'high' (uncertainty.scenarios[1]), field 'hashprice_usd_per_ph_day': got "
        "[50.0, 52.0]; expected period 1 equal to that of the first scenario, scenario "
        "'low' (uncertainty.scenarios[0]): 48, not 50",
        "market, field 'blocks[].hours_share'",
    ]
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, lines)
    assert len(lines) == len(expected), "\n".join(lines)


def test_market_keys_judged_independently(tmp_path: Path) -> None:
    # A hashprice of the wrong type (with uncertainty: also one too many) does not hide the
    # blocks' shares.
    doc = base()
    doc["market"] = {"hashprice_usd_per_ph_day": "40",
                     "blocks": [{"id": "b", "hours_share": 0.5}]}
    lines = problems(tmp_path, doc)
    assert any("market, field 'hashprice_usd_per_ph_day': got '40'; expected a number" in
               line for line in lines), lines
    assert any("market, field 'hashprice_usd_per_ph_day': got '40'; expected no" in line
               for line in lines), lines
    assert any("market, field 'blocks[].hours_share'" in line for line in lines), lines


# --- Python API -------------------------------------------------------------------------


def test_check_instance_on_a_python_instance() -> None:
    doc = copy.deepcopy(_WORKED)
    del doc["market"]
    inst = Instance.model_validate(doc)  # the schema alone accepts it
    with pytest.raises(InputError) as info:
        check_instance(inst, "mine")
    (issue,) = info.value.issues
    assert (issue.file, issue.entity, issue.field) == ("mine", "document", "market")
    assert issue.value is MISSING
    good = Instance.model_validate(base("multi_stage"))
    check_instance(good)
    good.uncertainty.scenarios[1].probability = 0.7  # type: ignore[union-attr]
    with pytest.raises(InputError) as info:
        check_instance(good)
    assert "not 1.1" in info.value.issues[0].expected


# --- the documentation shows real runs -----------------------------------------------------


def test_docs_examples_are_real_runs(tmp_path: Path) -> None:
    # docs/instance-format.md, section "uncertainty": the broken file and its messages, and
    # the example block (with the broken file's site) as a valid file, as shown.
    text = (ROOT / "docs" / "instance-format.md").read_text(encoding="utf-8")
    section = text.split("\n### uncertainty\n", 1)[1].split("\n## ", 1)[0]
    yaml_blocks = [b.split("```")[0] for b in section.split("```yaml\n")[1:]]
    out_blocks = [b.split("```")[0] for b in section.split("```\n$ ")[1:]]
    example, broken = yaml_blocks
    assert len(out_blocks) == 2
    assert broken.startswith("# uncertain.yaml\n")
    head = broken.split("market:")[0] + "sites:" + broken.split("sites:")[1].split(
        "uncertainty:")[0]
    (tmp_path / "uncertain.yaml").write_text(broken, encoding="utf-8")
    (tmp_path / "good.yaml").write_text(head + example, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for shown in out_blocks:
        command, *expected = shown.strip().splitlines()
        name = command.split()[2].rstrip(";")
        proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "validate", name],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=env)
        if expected[-1].startswith("exit "):
            assert expected.pop() == f"exit {proc.returncode}"
        got = (proc.stdout + proc.stderr).strip().splitlines()
        assert got == expected, "\n".join(got)
