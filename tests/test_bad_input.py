"""Bad input ends in a located problem and exit 1 or 2: never a traceback, a hang or a lost file."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from sapa.engine.formula import FormulaSyntaxError, parse
from tests.conftest import SPECS, problems_of, sapa

MINI, MINI_DATA = SPECS / "mini.yaml", SPECS / "mini-data"


def data_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(MINI_DATA, folder)
    return folder


def survey_variant(tmp_path: Path, overlay: str) -> Path:
    """tests/specs/survey.yaml with `overlay` (YAML lines) over it, its tests left out."""
    spec = tmp_path / "variant.yaml"
    spec.write_text(f"extends: {SPECS / 'survey.yaml'}\n{overlay}", encoding="utf-8")
    return spec


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------------ specs
def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]"
              for i in range(8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    result = sapa("validate", bomb)
    assert time.perf_counter() - start < 10
    assert result.exit_code == 2 and "S105" in result.output


def test_a_nul_byte_and_deep_nesting_are_located_yaml_problems(tmp_path: Path) -> None:
    nul = tmp_path / "nul.yaml"
    nul.write_text("methodology: {id: x, title: {en: x}}\nparameters:\n  a: 1\x00\n")
    result = sapa("validate", nul)
    assert result.exit_code == 2
    assert f"{nul}:3:7: error[S101]" in result.output and "'\\x00'" in result.output
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 20_000 + "]" * 20_000 + "\n")
    result = sapa("validate", deep)
    assert result.exit_code == 2 and "S105" in result.output
    assert "nested too deeply" in result.output


def test_a_folded_block_formula_reads_as_one_line(tmp_path: Path) -> None:
    text = MINI.read_text(encoding="utf-8").replace(
        'timeliness: "weights.timeliness * (1 - coalesce(late_share, 0))"',
        "timeliness: >\n        weights.timeliness *\n        (1 - coalesce(late_share, 0))")
    assert "timeliness: >" in text
    spec = tmp_path / "mini.yaml"
    spec.write_text(text, encoding="utf-8")
    shutil.copytree(MINI_DATA, tmp_path / "mini-data")
    assert sapa("test", spec).output.strip().endswith("1 passed, 0 failed")


def test_a_variant_of_a_bundled_year_from_any_folder_needs_no_workaround(tmp_path: Path
                                                                          ) -> None:
    """`extends: 2020` unquoted; the tests, test files and published tables it inherits are
    found where 2020.yaml names them."""
    for year in ("2013", "2020"):
        variant = tmp_path / f"v{year}.yaml"
        variant.write_text(f"extends: {year}\nmethodology: {{id: v{year}, title: {{en: v}}}}\n",
                           encoding="utf-8")
        assert sapa("validate", variant).exit_code == 0
        assert sapa("test", variant).exit_code == 0
    assert sapa("conform", tmp_path / "v2020.yaml", "--show", "0").exit_code == 0


@pytest.mark.parametrize("formula", [" + ".join(["x"] * 600), "-" * 500 + "x",
                                     "abs(" * 300 + "x" + ")" * 300])
def test_an_overlong_formula_is_a_syntax_problem(formula: str) -> None:
    with pytest.raises(FormulaSyntaxError) as caught:
        parse(formula)
    assert "at most 200" in caught.value.problem.message


@pytest.mark.parametrize("digits", ["309", "-1", "2.5", "x"])
def test_round_needs_a_whole_number_of_digits_it_can_hold(digits: str) -> None:
    assert problems_of(f"round(x, {digits})") == ["F304"]


@pytest.mark.parametrize("formula", ["x / 0", "1e999", "round(x, 1e400)", "-1e999 + x"])
def test_a_constant_division_by_zero_or_an_infinite_literal(formula: str) -> None:
    assert problems_of(formula) == ["F308"]


# ------------------------------------------------------------------------------------- data
def test_a_division_by_zero_in_the_data_is_a_warning_naming_the_units(tmp_path: Path) -> None:
    data = data_copy(tmp_path)
    services = data / "services.csv"
    services.write_text(services.read_text().replace("B,s1,1,50,0", "B,s1,1,0,0"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"extends: {MINI}\ntests: null\ntables:\n  bodies:\n    variables:\n"
                    "      guarded: 'if(sum(services.total) > 0, sum(services.late)"
                    " / sum(services.total), 0)'\n"
                    "      per_row: 'sum(if(services.total > 0, services.late / services.total,"
                    " 0))'\n", encoding="utf-8")
    result = sapa("rate", spec, "--data", data)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "D414" in line]
    # late_share = 0 / 0 on body B, and nowhere else: the guarded ones took their other branch
    assert len(warned) == 1, result.output
    assert "bodies.late_share" in warned[0] and "1 row of bodies (B)" in warned[0]


@pytest.mark.parametrize(("name", "content", "code"), [
    ("services.csv", b"", "D409"),
    ("services.csv", b'body_id,service_id,approved,total,late\nA,s1,1,100,10\n"A,s2,0,3\n',
     "D409"),
    ("services.csv", b"body_id,service_id,approved,total,late\nA,s1,1,100,10,5,6\n\x98\x98,s\n",
     "D409"),
    ("services.parquet", b"garbage", "D409"),
    ("services.xlsx", b"garbage", "D410"),
    ("services.csv", b"body_id,service_id,approved,total,late\n,s1,1,100,10\n", "D411"),
])
def test_a_bad_data_file_is_a_located_problem_and_nothing_is_written(
        tmp_path: Path, name: str, content: bytes, code: str) -> None:
    data = data_copy(tmp_path)
    if name.endswith(".parquet"):
        (data / "services.csv").unlink()
    (data / name).write_bytes(content)
    result = sapa("rate", MINI, "--data", data, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert f"error[{code}]" in result.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ the results
def test_out_never_replaces_the_data_or_a_file(tmp_path: Path) -> None:
    data = data_copy(tmp_path)
    before = fingerprint(data)
    for out, code in ((data, "C107"), (tmp_path, "C107"), (data / "bodies.csv", "C106")):
        result = sapa("rate", MINI, "--data", data, "--out", out)
        assert result.exit_code == 2 and f"error[{code}]" in result.output
    assert fingerprint(data) == before


def test_a_results_folder_holds_exactly_one_run(tmp_path: Path) -> None:
    data, out = data_copy(tmp_path), tmp_path / "out"
    assert sapa("rate", MINI, "--data", data, "--out", out).exit_code == 0
    (out / "stale_rating.csv").write_text("left from an older run\n", encoding="utf-8")
    assert sapa("rate", MINI, "--data", data, "--out", out).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["central.csv", "manifest.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_folder_of_other_files_is_replaced_only_with_force(tmp_path: Path) -> None:
    data, out = data_copy(tmp_path), tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = sapa("rate", MINI, "--data", data, "--out", out)
    assert result.exit_code == 2 and "error[C108]" in result.output
    assert (out / "notes.txt").exists()
    assert sapa("rate", MINI, "--data", data, "--out", out, "--force").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["central.csv", "manifest.json"]


def test_result_files_write_counts_whole_and_data_text_inert(tmp_path: Path) -> None:
    data, out = data_copy(tmp_path), tmp_path / "out"
    bodies = data / "bodies.csv"
    bodies.write_text(bodies.read_text().replace("Alpha ministry", "=HYPERLINK(1)")
                      .replace("Beta agency", "-5"), encoding="utf-8")
    assert sapa("rate", MINI, "--data", data, "--out", out).exit_code == 0
    written = (out / "central.csv").read_text(encoding="utf-8")
    assert ",'=HYPERLINK(1)," in written and ",-5," in written  # a number as text stays
    survey_out = tmp_path / "survey-out"
    assert sapa("rate", SPECS / "survey.yaml", "--data", SPECS / "survey-data",
                "--out", survey_out).exit_code == 0
    header, first = (survey_out / "services.csv").read_text().splitlines()[:2]
    n = first.split(",")[header.split(",").index("n")]
    assert n.isdigit(), first  # a count is 4, not 4.0
    read_back = pd.read_csv(survey_out / "services.csv")
    rated = sapa("rate", SPECS / "survey.yaml", "--data", SPECS / "survey-data",
                 "--format", "json").stdout
    assert read_back["score"].tolist() == [r["score"] for r in json.loads(rated)["services"]]


def test_csv_on_the_terminal_is_one_table_chosen_by_id(tmp_path: Path) -> None:
    result = sapa("rate", "2020", "--format", "csv")
    assert result.exit_code == 2 and "error[C112]" in result.output
    assert "services, cgo_own_zone" in result.output
    result = sapa("rate", "2020", "--format", "csv", "--rating", "servces")
    assert result.exit_code == 2 and "did you mean 'services'" in result.output
    result = sapa("rate", MINI, "--data", MINI_DATA, "--format", "csv", "--rating", "central")
    assert result.exit_code == 0 and result.stdout.startswith("rank,unit,name,score,grade\n")


def test_a_spreadsheet_cell_is_named_as_the_sheet_names_it(tmp_path: Path) -> None:
    data = data_copy(tmp_path)
    services = pd.read_csv(data / "services.csv", dtype=str)
    services.loc[2, "total"] = "many"
    (data / "services.csv").unlink()
    services.to_excel(data / "services.xlsx", index=False)
    result = sapa("rate", MINI, "--data", data)
    assert result.exit_code == 1
    assert f"{data / 'services.xlsx'}:D4: error[D403]" in result.output, result.output
    workbook = tmp_path / "all.xlsx"
    with pd.ExcelWriter(workbook) as sheets:
        pd.read_csv(data / "bodies.csv", dtype=str).to_excel(sheets, sheet_name="bodies",
                                                             index=False)
        services.to_excel(sheets, sheet_name="services", index=False)
    result = sapa("rate", MINI, "--data", workbook)
    assert f"{workbook}:services!D4: error[D403]" in result.output, result.output


def test_allowed_values_are_listed_as_the_data_writes_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SPECS / "survey-data", data)
    respondents = data / "respondents.csv"
    lines = respondents.read_text().splitlines()
    lines[1] = lines[1].replace(",5,5,5,", ",9,5,5,", 1)
    respondents.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = sapa("rate", SPECS / "survey.yaml", "--data", data)
    assert result.exit_code == 1 and "not one of 1, 2, 3, 4, 5, 0: row 1 ('9')" in result.output


def test_a_zone_named_like_a_questionnaire_is_refused(tmp_path: Path) -> None:
    spec = survey_variant(tmp_path, "tests: null\nzones:\n  office: {label: Office zone}\n")
    result = sapa("validate", spec)
    assert result.exit_code == 1
    assert f"{spec}:4:3: error[S235] two results columns would be named 'office_score'" \
        in result.output


def test_the_manifest_hashes_every_file_of_the_extends_chain(tmp_path: Path) -> None:
    base, variant = tmp_path / "base.yaml", tmp_path / "variant.yaml"
    shutil.copy(MINI, base)
    variant.write_text("extends: base.yaml\n", encoding="utf-8")
    data = data_copy(tmp_path)
    hashes = []
    for penalty in ("0.3", "0.4"):
        base.write_text(MINI.read_text(encoding="utf-8").replace(
            "penalty_per_violation: {value: 0.3", f"penalty_per_violation: {{value: {penalty}"),
            encoding="utf-8")
        out = tmp_path / f"out{penalty}"
        assert sapa("rate", variant, "--data", data, "--out", out).exit_code == 0
        hashes.append(json.loads((out / "manifest.json").read_text())["spec_sha256"])
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize(("args", "code"), [
    (["compare", SPECS / "survey.yaml", SPECS / "survey-variant.yaml", "--map", "services"],
     "C111"),
    (["history", "2019", "--rating", "services"], "C111"),
    (["bridge", SPECS / "survey.yaml", SPECS / "survey-data", SPECS / "survey-variant.yaml",
      SPECS / "survey-data", "--rating", "services", "--column", "scor"], "C109"),
])
def test_command_line_mistakes_exit_2_with_their_code(args: list[str | Path], code: str) -> None:
    result = sapa(*args)
    assert result.exit_code == 2 and f"error[{code}]" in result.output


def test_history_over_files_that_are_no_ratings(tmp_path: Path) -> None:
    garbage, other = tmp_path / "garbage.csv", tmp_path / "other.csv"
    garbage.write_bytes(b"\x00\x9f\x98garbage")
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    for file in (garbage, other):
        result = sapa("history", f"2019={file}", "--rating", "services")
        assert result.exit_code == 2 and "error[C102]" in result.output


def test_conform_with_a_folder_without_the_published_tables(tmp_path: Path) -> None:
    result = sapa("conform", "2019", "--published", tmp_path)
    assert result.exit_code == 2 and "error[C110]" in result.output


def test_a_data_file_without_rows_is_said(tmp_path: Path) -> None:
    data = data_copy(tmp_path)
    (data / "services.csv").write_text("body_id,service_id,approved,total,late\n")
    result = sapa("rate", MINI, "--data", data)
    assert result.exit_code == 0 and "warning[D412] services.csv has no rows" in result.output


def test_a_number_beyond_float_range_is_no_number(tmp_path: Path) -> None:
    data = data_copy(tmp_path)
    (data / "services.csv").write_text("body_id,service_id,approved,total,late\n"
                                       "A,s1,1,1e999,10\n")
    result = sapa("rate", MINI, "--data", data)
    assert result.exit_code == 1 and "not a finite number" in result.output


def test_a_file_name_no_file_can_have_is_a_missing_file(tmp_path: Path) -> None:
    """300 characters (found by the fuzz run): a located 'not found', not an OSError."""
    name = "x" * 300
    spec = survey_variant(tmp_path, f"tests:\n  - name: t\n"
                          f"    given: {{agencies: {{csv: {name}.csv}}}}\n"
                          "    expect: {tables: {agencies: [{code: A1}]}}\n")
    result = sapa("validate", spec)
    assert result.exit_code == 1 and "error[S251]" in result.output
    extends = tmp_path / "extends.yaml"
    extends.write_text(f"extends: {name}\n", encoding="utf-8")
    result = sapa("validate", extends)
    assert result.exit_code == 1 and "error[S104]" in result.output


def test_a_comparison_with_a_value_the_column_does_not_allow(tmp_path: Path) -> None:
    spec = survey_variant(tmp_path, "tests: null\nquestionnaires:\n"
                          "  online:\n    when: 'contact == \"Web\"'\n")
    result = sapa("validate", spec)
    assert result.exit_code == 1
    assert f"{spec}:5:23: error[S236] 'Web' is not a value of respondents.contact" \
        in result.output and "did you mean 'web'?" in result.output


def test_a_bad_cell_after_a_quoted_separator_is_located_in_its_own_column(tmp_path: Path
                                                                          ) -> None:
    data = data_copy(tmp_path)
    (data / "bodies.csv").write_text('body_id,name,kind,violations\n'
                                     'A,"Alpha, ministry",central,two\n', encoding="utf-8")
    result = sapa("rate", MINI, "--data", data)
    assert result.exit_code == 1
    assert f"{data / 'bodies.csv'}:2:29: error[D403]" in result.output


def test_a_number_yaml_reads_and_python_does_not_is_kept_as_text(tmp_path: Path) -> None:
    """`1__0.5_` matches YAML's float pattern but no Python number (found by the fuzz run)."""
    spec = tmp_path / "numbers.yaml"
    spec.write_text("methodology: {id: x, title: {en: x}}\nparameters:\n"
                    "  a: {value: 1__0.5_}\n  b: {value: 1__0}\n", encoding="utf-8")
    assert sapa("validate", spec).exit_code == 0
