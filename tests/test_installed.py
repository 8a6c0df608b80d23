"""The installed package works outside the checkout: grammar, schema and bundled specs travel
as package data."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from importlib.metadata import distributions
from pathlib import Path

from tests.conftest import ROOT


def sapa(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sapa", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_validate_a_bundled_spec_by_short_name_from_elsewhere(tmp_path: Path) -> None:
    result = sapa("validate", "2020", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2020: valid" in result.stdout


def test_test_command_prints_the_summary_line(tmp_path: Path) -> None:
    result = sapa("test", str(ROOT / "tests" / "specs" / "mini.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_rate_without_arguments_rates_the_bundled_2020_data(tmp_path: Path) -> None:
    result = sapa("rate", "--format", "csv", "--rating", "services", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("rank,unit,name,agency,score") and "ИТОГО" in result.stdout


def test_a_rating_without_rows_says_why_instead_of_an_empty_table(tmp_path: Path) -> None:
    """The bundled 2020 data have no call-centre answers (synth fits none)."""
    result = sapa("rate", "--lang", "en", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("Call centres by service (call_centres): no rows, no row of 'service_centres' meets "
            "`not is_missing(call_centre_score)` in these data") in result.stdout


def test_the_wheel_installs_one_top_level_package_sapa() -> None:
    """cli, engine, grammar and methodology travel inside `sapa`, never beside other packages
    (an editable install maps the one name `sapa` to the checkout instead)."""
    site = Path(sysconfig.get_paths()["purelib"])
    installed = [d for d in distributions(path=[str(site)]) if d.metadata["Name"] == "sapa"]
    assert len(installed) == 1
    files = installed[0].files or []
    finders = [f for f in files if f.name.startswith("__editable__") and f.suffix == ".py"]
    if finders:
        text = (site / finders[0]).read_text(encoding="utf-8")
        mapping = ast.literal_eval(text.split("MAPPING: dict[str, str] = ", 1)[1].splitlines()[0])
        assert set(mapping) == {"sapa"}, mapping
        return
    tops = {f.parts[0] for f in files if f.parts[0] not in ("..", "__pycache__")
            and not f.parts[0].endswith(".dist-info")}
    assert tops == {"sapa"}, tops


def test_python_dash_m_sapa_prints_the_help(tmp_path: Path) -> None:
    result = sapa("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "rate" in result.stdout
