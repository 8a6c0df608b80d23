"""The bad-input catalogue: each kind of mistake a user can make in a spec, in data or on the
command line, with the exit code and the diagnostic code it must give (never a traceback).
docs/diagnostics.md lists the same catalogue; a test keeps the two equal."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from sapa.cli import main
from tests.conftest import ROOT, SPECS

MINI, SURVEY = SPECS / "mini.yaml", SPECS / "survey.yaml"
BASES = {"mini": (MINI, SPECS / "mini-data"), "survey": (SURVEY, SPECS / "survey-data")}
BODIES = "body_id,name,kind,violations\nA,Alpha,central,2\nB,Beta,central,\nC,Gamma,local,4\n"
SERVICES = "body_id,service_id,approved,total,late\nA,s1,1,100,10\nB,s1,1,50,0\nC,s1,1,10,1\n"
RATE = "rate {spec} --data {data}"


def put(name: str, content: str | bytes | None) -> Callable[[Path], None]:
    """A data edit: the file's new content (None deletes it)."""
    def edit(data: Path) -> None:
        path = data / name
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return edit


def replace(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(data: Path) -> None:
        path = data / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return edit


def variable(formula: str, name: str = "x") -> str:
    return f"tables:\n  bodies:\n    variables:\n      {name}: '{formula}'\n"


@dataclass(frozen=True)
class Case:
    """One kind of bad input. `spec` is an overlay over the base spec (or, with base None, a
    whole file); `edits` change a copy of the base's data; `command` names {spec}, {data},
    {tmp}."""

    what: str
    code: str
    exit: int
    spec: str = ""
    command: str = "validate {spec}"
    base: str | None = "mini"
    edits: tuple[Callable[[Path], None], ...] = field(default=())
    files: tuple[tuple[str, str], ...] = ()  # more files in {tmp}: name, text


SPEC_CASES = [
    Case("YAML syntax error", "S101", 2, "methodology: {id: x\n", base=None),
    Case("a NUL byte in the file", "S101", 2, "methodology: {id: x, title: x}\na: 1\x00\n",
         base=None),
    Case("spec file missing", "S100", 2, command="validate {tmp}/nowhere.yaml"),
    Case("unknown bundled name", "S100", 2, command="validate 2012"),
    Case("a key written twice", "S103", 1, "parameters:\n  penalty_cap: 5\n  penalty_cap: 6\n"),
    Case("unknown key", "S110", 1, "ratings:\n  central:\n    colums: {}\n"),
    Case("missing required key", "S111", 1, "tables: {}\n", base=None),
    Case("wrong type of value", "S112", 1, "ratings:\n  central:\n    rank_by: -1\n"),
    Case("value not among the allowed ones", "S113", 1, "ratings:\n  central:\n    ties: some\n"),
    Case("a name that is not a name", "S114", 1,
         "tables:\n  1bad: {key: a, columns: {a: {type: string}}}\n"),
    Case("extends: a missing file", "S104", 1, "extends: nowhere.yaml\n", base=None),
    Case("extends: itself", "S104", 1, "extends: {spec}\n", base=None),
    Case("an alias bomb", "S105", 2, "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
        for i in range(8)), base=None),
    Case("null for a key the extended spec lacks", "S115", 0, "ratings:\n  centrl: null\n"),
    Case("a rating over an undeclared table", "S201", 1,
         "ratings:\n  central:\n    table: bodys\n"),
    Case("a link on columns that do not match the key", "S202", 1,
         "tables:\n  services:\n    links:\n"
         "      body: {table: bodies, on: [body_id, service_id]}\n"),
    Case("a variable named like a column", "S203", 1, variable("1", name="kind")),
    Case("a satisfied mark not on the scale", "S204", 1, "scale: {satisfied: [6]}\n",
         base="survey"),
    Case("questionnaires without a survey", "S205", 1,
         "questionnaires:\n  q: {when: 'true', items: {}}\n"),
    Case("a rating over a composite key without unit:", "S206", 1,
         "ratings:\n  svc: {table: services, columns: {t: total}}\n"),
    Case("an item no questionnaire asks", "S210", 0, "items:\n  extra: {text: Extra}\n",
         base="survey"),
    Case("a criterion without items", "S211", 0, "criteria:\n  spare: {label: Spare}\n",
         base="survey"),
    Case("a gap between bands", "S220", 1, "bands:\n  grades:\n    bands:\n"
         "      - {label: high, from: 90, to: 100}\n      - {label: low, below: 80}\n"),
    Case("overlapping bands", "S221", 1, "bands:\n  grades:\n    bands:\n"
         "      - {label: high, from: 90, to: 100}\n      - {label: low, below: 95}\n"),
    Case("an inverted band", "S222", 1, "bands:\n  grades:\n    bands:\n"
         "      - {label: high, from: 100, to: 90}\n"),
    Case("weights that do not add up", "S230", 1,
         "parameters:\n  weights:\n    values: {approval: 30, timeliness: 75}\n"),
    Case("a weighted level without weights", "S232", 1,
         "survey:\n  levels:\n    channel: {rule: weighted}\n", base="survey"),
    Case("a weighted level that forgets a member", "S233", 1,
         "survey:\n  levels:\n    channel: {rule: weighted, weights: {people: 1}, sum_to: 1}\n",
         base="survey"),
    Case("a breakdown key named like a results column", "S234", 1,
         "survey:\n  breakdowns:\n    a: {by: {score: region}}\n", base="survey"),
    Case("a zone named like a questionnaire", "S235", 1, "zones:\n  office: {label: Office}\n",
         base="survey"),
    Case("a comparison with a value the column does not allow", "S236", 1,
         "ratings:\n  central:\n    where: 'kind == \"Central\"'\n"),
    Case("a synthesis: plan synth cannot fit", "S237", 0,
         "extends: 2020\nmethodology: {id: v}\nscale: {satisfied: [4, 5]}\ntests: null\n",
         base=None),
    Case("a test naming a column its table lacks", "S250", 1,
         "tests:\n  - name: t\n    given: {bodies: [{body_id: A, kind: central}], services: []}"
         "\n    expect:\n      tables:\n        bodies: [{body_id: A, scroe: 1}]\n"),
    Case("a test's CSV file missing", "S251", 1,
         "tests:\n  - name: t\n    given: {bodies: {csv: nope.csv}, services: []}\n"
         "    expect:\n      tables:\n        bodies: [{body_id: A}]\n"),
    Case("a published table's file missing", "S252", 1,
         "published:\n  folder: .\n  tables:\n    t: {title: T, file: nope.csv, rating: central,"
         " key: unit, columns: {score: score}, status: verified}\n"),
    Case("formula syntax error", "F300", 1, variable("(violations + ")),
    Case("a formula over 200 operations", "F300", 1, variable("1" + " + 1" * 300)),
    Case("unknown name in a formula", "F301", 1, variable("violatons + 1")),
    Case("unknown function", "F302", 1, variable("sqrt(violations)")),
    Case("wrong number of arguments", "F303", 1, variable("round(1, 2, 3)")),
    Case("a number where a condition is needed", "F304", 1, variable("if(violations, 1, 2)")),
    Case("round to more digits than a float holds", "F304", 1, variable("round(violations, 309)")),
    Case("child rows without an aggregate", "F306", 1, variable("services.total + 1")),
    Case("variables defined by each other", "F307", 1,
         "tables:\n  bodies:\n    variables:\n      x: 'y + 1'\n      y: 'x + 1'\n"),
    Case("division by a constant zero", "F308", 1, variable("violations / 0")),
    Case("a number beyond float range", "F308", 1, variable("1e999")),
]

DATA_CASES = [
    Case("no data for a table", "D400", 1, command=RATE, edits=(put("bodies.csv", None),)),
    Case("a required column missing", "D401", 1, command=RATE, edits=(put(
        "bodies.csv", "body_id,name,violations\nA,Alpha,2\n"),)),
    Case("a column the contract does not know", "D402", 0, command=RATE, edits=(replace(
        "bodies.csv", "body_id,name,kind,violations", "body_id,name,kind,violations,extra"),)),
    Case("text in a number column", "D403", 1, command=RATE,
         edits=(replace("services.csv", "A,s1,1,100,10", "A,s1,1,many,10"),)),
    Case("2.5 in an integer column", "D403", 1, command=RATE,
         edits=(replace("bodies.csv", "A,Alpha ministry,central,2", "A,Alpha,central,2.5"),)),
    Case("an infinite number", "D403", 1, command=RATE,
         edits=(replace("services.csv", "A,s1,1,100,10", "A,s1,1,1e999,10"),)),
    Case("a value outside the allowed ones", "D404", 1, command=RATE,
         edits=(replace("bodies.csv", "A,Alpha ministry,central", "A,Alpha,regional"),)),
    Case("a value below min", "D405", 1, command=RATE,
         edits=(replace("bodies.csv", "A,Alpha ministry,central,2", "A,Alpha,central,-1"),)),
    Case("a key repeated", "D406", 1, command=RATE, edits=(put("bodies.csv", BODIES + "A,Again,"
                                                                "central,1\n"),)),
    Case("a link to a missing parent", "D407", 1, command=RATE,
         edits=(put("services.csv", SERVICES + "Z,s1,1,5,0\n"),)),
    Case("an empty (0-byte) file", "D409", 1, command=RATE, edits=(put("services.csv", b""),)),
    Case("an unclosed quote", "D409", 1, command=RATE,
         edits=(put("services.csv", SERVICES + '"A,s2,0,3\n'),)),
    Case("a .parquet file that is not one", "D409", 1, command=RATE,
         edits=(put("services.csv", None), put("services.parquet", b"garbage"))),
    Case("a table given twice", "D410", 1, command=RATE,
         edits=(put("services.xlsx", b"garbage"),)),
    Case("a blank key cell", "D411", 1, command=RATE,
         edits=(put("services.csv", SERVICES + ",s2,1,5,0\n"),)),
    Case("a header without rows", "D412", 0, command=RATE,
         edits=(put("services.csv", "body_id,service_id,approved,total,late\n"),)),
    Case("items of the questionnaires missing", "D413", 1, command=RATE, base="survey",
         edits=(replace("respondents.csv", "info,fee,answer,site", "info,fee,answer,sight"),)),
    Case("missing items allowed on purpose", "D408", 0, base="survey",
         command=RATE + " --allow-missing-items",
         edits=(replace("respondents.csv", "info,fee,answer,site", "info,fee,answer,sight"),)),
    Case("a division by zero in the data", "D414", 0, command=RATE,
         edits=(put("services.csv", SERVICES.replace("B,s1,1,50,0", "B,s1,1,0,0")),)),
    Case("no --data and no bundled data", "D400", 2, command="rate {spec}"),
    Case("--backend spark with nothing for Spark to read", "D415", 0,
         command=RATE + " --backend spark"),
]

COMMAND_CASES = [
    Case("--out names a file", "C106", 2, command=RATE + " --out {data}/bodies.csv"),
    Case("--out is the data folder", "C107", 2, command=RATE + " --out {data}"),
    Case("--out holds other files", "C108", 2, command=RATE + " --out {tmp}/notes"),
    Case("--rating names no rating", "C100", 2, command=RATE + " --rating centrl"),
    Case("--format csv with several ratings", "C112", 2, command="rate 2020 --format csv"),
    Case("compare --map to a rating the spec lacks", "C100", 2,
         command=f"compare {SURVEY} {SPECS / 'survey-variant.yaml'} --data "
                 f"{SPECS / 'survey-data'} --map services=nope"),
    Case("compare: specs that share no rating", "C101", 2,
         "ratings:\n  central: null\n  other: {table: bodies, columns: {score: score}}\n",
         command=f"compare {MINI} {{spec}} --data {{data}}"),
    Case("compare --map without =", "C111", 2,
         command=f"compare {SURVEY} {SPECS / 'survey-variant.yaml'} --map services"),
    Case("history over a file that is no rating", "C102", 2,
         command="history 2019={tmp}/notes/notes.txt --rating services"),
    Case("synth on a spec it cannot fit", "C105", 2,
         "extends: 2020\nmethodology: {id: v}\nscale: {satisfied: [4, 5]}\ntests: null\n",
         command="synth {spec} --out {tmp}/synth", base=None),
    Case("bridge --column names no column", "C109", 2,
         command=f"bridge {SURVEY} {SPECS / 'survey-data'} {SPECS / 'survey-variant.yaml'} "
                 f"{SPECS / 'survey-data'} --rating services --column scor"),
    Case("conform without the published tables", "C110", 2,
         command="conform 2019 --published {tmp}/notes"),
]

WALK = "from,to,kind,rule\n"
DECLARED = ("extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
            "crosswalks:\n  regions: {file: walk.csv}\n")
HISTORY = "history 2019={tmp}/a.csv 2020={tmp}/b.csv --rating r"
RATING = "rank,unit,name,score\n1,A,A,4.5\n"

CROSSWALK_CASES = [
    Case("a crosswalk file missing", "S253", 1,
         "extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
         "crosswalks:\n  regions: {file: nowhere.csv}\n", base=None),
    Case("an alternative with both values and a range", "S254", 1,
         "extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
         "sensitivity:\n  k: {path: scale.satisfied, values: [[5]], range: [1, 2]}\n",
         base=None),
    Case("a crosswalk without its kind column", "X601", 1, command=HISTORY + " --crosswalk "
         "{tmp}/walk.csv", files=(("walk.csv", "from,to\nA,A\n"), ("a.csv", RATING),
                                   ("b.csv", RATING))),
    Case("a crosswalk row of an unknown kind", "X602", 1, DECLARED, base=None,
         files=(("walk.csv", WALK + "Алматы,г. Алматы,same-ish,\n"),)),
    Case("a crosswalk code no catalogue has", "X603", 1, DECLARED, base=None,
         files=(("walk.csv", WALK + "Алматы,г. Алмата,renamed,\n"),)),
    Case("history with a crosswalk missing for a step", "C113", 2,
         command="history 2018={tmp}/a.csv 2019={tmp}/a.csv 2020={tmp}/b.csv --rating r "
                 "--crosswalk {tmp}/walk.csv",
         files=(("walk.csv", WALK + "A,A,same,\n"), ("a.csv", RATING), ("b.csv", RATING))),
]

CASES = SPEC_CASES + DATA_CASES + COMMAND_CASES + CROSSWALK_CASES


def run(case: Case, tmp_path: Path) -> tuple[int, str]:
    spec, data = tmp_path / "spec.yaml", tmp_path / "data"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine\n", encoding="utf-8")
    for name, text in case.files:
        (tmp_path / name).write_text(text, encoding="utf-8")
    if case.base is None:
        spec.write_text(case.spec.replace("{spec}", str(spec)), encoding="utf-8")
    else:
        base, base_data = BASES[case.base]
        tests = "" if case.spec.startswith("tests:") else "tests: null\n"
        spec.write_text(f"extends: {base}\n{tests}{case.spec}", encoding="utf-8")
        shutil.copytree(base_data, data)
        for edit in case.edits:
            edit(data)
    args = case.command.format(spec=spec, data=data, tmp=tmp_path).split()
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{c.what}" for c in CASES])
def test_bad_input_gives_its_code_and_exit(case: Case, tmp_path: Path) -> None:
    before = sorted(p.name for p in (tmp_path / "data").iterdir()) \
        if (tmp_path / "data").exists() else None
    code, output = run(case, tmp_path)
    assert "Traceback" not in output and "internal error" not in output, output
    severity = "warning" if case.exit == 0 else "error"
    assert f"{severity}[{case.code}]" in output, output
    assert code == case.exit, output
    assert before is None or not (tmp_path / "data" / "manifest.json").exists()


def catalogue_rows() -> list[str]:
    return [f"| {c.what} | `sapa {c.command.split()[0]}` | {c.exit} | {c.code} |"
            for c in CASES]


def test_the_catalogue_is_the_one_documented() -> None:
    assert len({(c.what, c.code) for c in CASES}) == len(CASES) >= 60
    text = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    documented = text.split("## Bad-input catalogue", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in documented.splitlines() if line.startswith("| ")][1:]
    assert rows == catalogue_rows()
