"""Reports people read: labels in the spec's languages, the Excel workbook read back, and the
HTML report opened in headless Chromium (no console error, no network request)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from sapa.engine.formula import round_half_up
from tests.conftest import SPECS, sapa

MINI, MINI_DATA = SPECS / "mini.yaml", SPECS / "mini-data"


def test_a_name_without_a_declared_language_is_said_with_the_coverage(tmp_path: Path) -> None:
    spec = tmp_path / "variant.yaml"
    spec.write_text("extends: 2020\nmethodology: {id: v}\ntests: null\npublished: null\n"
                    "criteria:\n  staff: {label: {kk: null}}\n",
                    encoding="utf-8")
    result = sapa("validate", spec)
    assert result.exit_code == 0
    assert f"{spec}:6:11: warning[S240] criteria.staff.label has no label in kk" in result.output
    assert "labels ru 97/97, kk 96/97, en 97/97" in result.output


def test_the_workbook_reads_back_as_the_report_prints_it(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(MINI_DATA, data)
    bodies = data / "bodies.csv"
    bodies.write_text(bodies.read_text().replace("Alpha ministry", "=HYPERLINK(1)"),
                      encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"extends: {MINI}\ntests: null\nmethodology: {{languages: [ru, en]}}\n"
                    "labels:\n  score: {ru: Балл, en: Score}\n  grade: {ru: Оценка, en: Grade}\n"
                    "ratings:\n  central:\n    title: {ru: Центральные органы, en: Central}\n"
                    "    columns: {third: {formula: 'approval / 3', digits: 1}}\n",
                    encoding="utf-8")
    result = sapa("rate", spec, "--data", data, "--out", out, "--format", "xlsx")
    assert result.exit_code == 0, result.output
    book = load_workbook(out / "ratings.xlsx")
    assert book.sheetnames == ["central", "method"]
    sheet = book["central"]
    assert sheet["A1"].value == "Центральные органы"  # the spec's first language
    assert [c.value for c in sheet[3]] == ["Место", "Код", "Наименование", "Балл", "Оценка",
                                           "third"]
    full = pd.read_csv(out / "central.csv")
    for row, (score, third) in enumerate(zip(full["score"], full["third"], strict=True),
                                         start=4):
        cell = sheet.cell(row, 4)
        assert cell.value == float(round_half_up(score, 2)) and cell.number_format == "0.00"
        cell = sheet.cell(row, 6)
        assert cell.value == float(round_half_up(third, 1)) and cell.number_format == "0.0"
    assert (full["third"] != full["third"].round(1)).any()  # full precision in the CSV
    ranks = [sheet.cell(row, 1).value for row in range(4, 4 + len(full))]
    assert all(isinstance(r, int) for r in ranks[:-1])  # the closing row has no rank
    names = [sheet.cell(row, 3).value for row in range(4, 4 + len(full))]
    assert "'=HYPERLINK(1)" in names  # a formula from the data is shown, not run
    method = {r[0].value: r[1].value for r in book["method"].iter_rows()}
    assert method["spec_id"] == "mini-efficiency" and len(method["data_sha256"]) == 64


def chromium() -> object:
    """Debian's Chromium through its ChromeDriver, headless, logging the console and network."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-sync",
                 "--disable-component-update", "--window-size=1300,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_html_report_opens_offline_with_every_table_and_chart(tmp_path: Path,
                                                                    lang: str) -> None:
    page = tmp_path / f"report-{lang}.html"
    result = sapa("report", "2020", "--lang", lang, "--out", page)
    assert result.exit_code == 0, result.output
    runs = tmp_path / "run"
    assert sapa("rate", "2020", "--out", runs, "--format", "json").exit_code == 0
    driver = chromium()
    try:
        driver.get(page.as_uri())
        driver.execute_async_script("var done = arguments[0]; window.setTimeout(done, 500);")
        assert driver.find_element("tag name", "html").get_attribute("lang") == lang
        for rating in json.loads((runs / "manifest.json").read_text())["ratings"]:
            rows = len(pd.read_csv(runs / f"{rating}.csv"))
            table = driver.find_elements("css selector", f'table[data-rating="{rating}"] tbody tr')
            assert len(table) == rows, rating
            if rows:  # a rating with rows has its chart, drawn
                drawn = driver.find_elements("css selector",
                                             f'div[data-rating="{rating}"] .main-svg')
                assert drawn, rating
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        requests = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        urls = [m["params"]["request"]["url"] for m in requests
                if m["method"] == "Network.requestWillBeSent"]
        assert [u for u in urls if not u.startswith(("file:", "data:", "blob:"))] == []
        driver.save_screenshot(str(tmp_path / f"report-{lang}.png"))
    finally:
        driver.quit()
    assert (tmp_path / f"report-{lang}.png").stat().st_size > 10_000


def test_compare_and_history_write_reports(tmp_path: Path) -> None:
    data = SPECS / "survey-data"
    book = tmp_path / "compare.xlsx"
    result = sapa("compare", SPECS / "survey.yaml", SPECS / "survey-variant.yaml", "--data",
                  data, "--report", book, "--format", "json")
    assert result.exit_code == 0, result.output
    sheet = load_workbook(book)["services"]
    assert [c.value for c in sheet[3]][:4] == ["Code", "Name", "Rank A", "Rank B"]
    runs = {}
    for period in ("2019", "2020"):
        runs[period] = tmp_path / period
        assert sapa("rate", SPECS / "survey.yaml", "--data", data, "--out",
                    runs[period]).exit_code == 0
    page = tmp_path / "history.html"
    result = sapa("history", *(f"{p}={f}" for p, f in runs.items()), "--rating", "services",
                  "--report", page, "--lang", "ru")
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert 'id="chart-services"' in text and "<th>Изменение</th>" in text
    assert "<script src=" not in text and "<link" not in text  # nothing loaded from elsewhere


def test_a_report_with_uncertainty_draws_each_unit_s_rank_interval(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = sapa("report", SPECS / "survey.yaml", "--data", SPECS / "survey-data",
                  "--uncertainty", "--reps", "20", "--out", page)
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert 'id="ranks-services"' in text and "<th>Rank: low</th>" in text

