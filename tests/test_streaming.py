"""The survey's respondents read, checked and tallied a batch at a time give what one read of
the whole file gives: the same results to the last bit, and the same problems, with the same
row numbers, however the rows fall into batches."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sapa.engine import api
from sapa.engine.data import TableScan, stream
from sapa.engine.diagnostics import SapaError

SPECS = Path(__file__).resolve().parent / "specs"


def _same(whole: api.rating_stage.Rated, batched: api.rating_stage.Rated) -> None:
    for rating, table in whole.ratings.items():
        pd.testing.assert_frame_equal(batched.ratings[rating], table, check_exact=True)
    assert whole.surveys.keys() == batched.surveys.keys()
    for name, result in whole.surveys.items():
        pd.testing.assert_frame_equal(batched.surveys[name].table, result.table,
                                      check_exact=True)
        pd.testing.assert_frame_equal(batched.surveys[name].long, result.long,
                                      check_exact=True)
        assert batched.surveys[name].ignored == result.ignored


@pytest.mark.parametrize(("name", "kind"), [("2019", "parquet"), ("2020", "parquet"),
                                           ("2020", "csv")])
def test_batches_give_what_the_whole_file_gives(name: str, kind: str, tmp_path: Path) -> None:
    spec, _ = api.check(name)
    folder = api.data_folder(name, spec, None)
    if kind == "csv":  # the same rows as a Windows-1251 CSV with semicolons
        folder = Path(shutil.copytree(folder, tmp_path / "data"))
        rows = pd.read_parquet(folder / "respondents.parquet")
        (folder / "respondents.parquet").unlink()
        rows.to_csv(folder / "respondents.csv", sep=";", index=False, encoding="cp1251")
    whole, warnings = api.rate_folder(spec, folder, whole=True)
    assert whole.inputs is not None
    for rows in (331, 100_000):  # many batches (breakdown values first met in later ones), one
        batched, batched_warnings = api.rate_folder(spec, folder, batch_rows=rows)
        assert batched.inputs is None  # never held whole
        _same(whole, batched)
        assert sorted(map(str, batched_warnings)) == sorted(map(str, warnings))


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_any_batch_size_gives_what_the_whole_file_gives(tmp_path: Path, kind: str) -> None:
    """Breakdowns and exclusions over a few rows: a batch may hold a group's left-out
    respondents and none it counts."""
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    folder = _survey_data(tmp_path, {}, kind)
    whole, _ = api.rate_folder(spec, folder, whole=True)
    assert whole.surveys["by_region"].table["excluded_non_recipient"].sum() == 3
    for rows in (1, 2, 4, 7, 1000):
        _same(whole, api.rate_folder(spec, folder, batch_rows=rows)[0])


def test_a_batch_reads_the_variables_of_the_tables_it_links_to(tmp_path: Path) -> None:
    """A condition over a variable of the respondents' parent (computed before the survey)
    reads it in every batch, as in one read."""
    overlay = tmp_path / "charged.yaml"
    overlay.write_text(f"""extends: {SPECS / 'survey.yaml'}
methodology: {{id: charged}}
tables: {{services: {{variables: {{charged: "not paid"}}}}}}
questionnaires: {{office: {{items: {{fee: {{asked_if: service.charged}}}}}}}}
""", encoding="utf-8")
    spec, problems = api.check(str(overlay))
    assert [p for p in problems if p.severity == "error"] == []
    folder = _survey_data(tmp_path, {})
    whole, _ = api.rate_folder(spec, folder, whole=True)
    plain, _ = api.rate_folder(api.check(str(SPECS / "survey.yaml"))[0], folder, whole=True)
    assert not whole.surveys["survey"].table.equals(plain.surveys["survey"].table)
    for rows in (4, 1000):
        _same(whole, api.rate_folder(spec, folder, batch_rows=rows)[0])


def test_no_batch_holds_more_rows_than_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    spec, _ = api.check("2020")
    folder = api.data_folder("2020", spec, None)
    total = pq.ParquetFile(folder / "respondents.parquet").metadata.num_rows
    seen: list[int] = []
    original = TableScan._batches

    def spy(self: TableScan, *args: object):  # type: ignore[no-untyped-def]
        for frame in original(self, *args):
            seen.append(len(frame))
            yield frame

    monkeypatch.setattr(TableScan, "_batches", spy)
    api.rate_folder(spec, folder, batch_rows=1000)
    assert seen == [1000] * (total // 1000) + [total % 1000] * (total % 1000 > 0)


def test_batches_are_checked_on_threads_in_order_and_read_only_when_a_thread_is_free() -> None:
    taken: list[int] = []
    done: list[int] = []
    threads: set[int] = set()

    def batches():  # type: ignore[no-untyped-def]
        for number in range(24):
            taken.append(number)
            assert len(taken) - len(done) <= stream.THREADS  # memory holds THREADS batches
            yield number

    def check(number: int) -> int:
        threads.add(threading.get_ident())
        time.sleep(0.002 * (number % 3))  # later batches can finish first
        return number

    for result in stream._in_order(check, batches()):  # type: ignore[arg-type]
        done.append(result)
    assert done == list(range(24)) and len(threads) == stream.THREADS > 1


def test_a_scan_holds_one_batch_of_the_file_not_all_it_has_read(tmp_path: Path) -> None:
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    noise = np.random.default_rng(0).random((400_000, 25))  # 80 MB that do not compress
    path = tmp_path / "respondents.parquet"
    pd.DataFrame(noise, columns=[f"c{i}" for i in range(25)]).to_parquet(path,
                                                                         row_group_size=20_000)
    held = [pa.total_allocated_bytes() for _ in TableScan(spec, "respondents", path, {}, True,
                                                          rows=20_000)._frames(None)]
    assert len(held) == 20 and max(held) - min(held) < path.stat().st_size / 4


def test_a_csv_locator_called_from_two_threads_at_once_reads_the_file_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches are checked on threads, and each may place a column's problem first."""
    from sapa.engine.data import readers

    path = tmp_path / "r.csv"
    path.write_text("id,extra\nr1,1\n", encoding="utf-8")
    starts, calls, inside = readers._line_starts, [], threading.Event()

    def slow(found: Path) -> object:  # the first caller is held up while it reads the file
        calls.append(found)
        inside.set()
        time.sleep(0.3)
        return starts(found)

    monkeypatch.setattr(readers, "_line_starts", slow)
    locate = readers.csv_locator(path, pd.DataFrame(columns=["id", "extra"]))
    placed: list[object] = []
    threads = [threading.Thread(target=lambda: placed.append(locate(-1, "extra")))
               for _ in range(2)]
    threads[0].start()
    inside.wait(5)
    threads[1].start()  # while the first is finding the lines' places
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert [(p.line, p.column) for p in placed] == [(1, 4), (1, 4)]  # type: ignore[attr-defined]


def _survey_data(tmp_path: Path, change: dict[tuple[int, str], object],
                 kind: str = "parquet") -> Path:
    """tests/specs/survey-data with the respondents as Parquet (or CSV), repeated three times
    (new ids), and `change`: cells set to other values, (row, column) -> value."""
    source = SPECS / "survey-data"
    folder = tmp_path / "data"
    folder.mkdir(parents=True)
    for name in ("agencies", "services"):
        shutil.copy(source / f"{name}.csv", folder / f"{name}.csv")
    rows = pd.read_csv(source / "respondents.csv", dtype={"id": str})
    rows = pd.concat([rows.assign(id=rows["id"] + f"-{copy}") for copy in range(3)],
                     ignore_index=True)
    rows = rows.astype({"received": "boolean", "complained": "boolean"}).astype(object)
    for (row, column), value in change.items():
        rows.loc[row, column] = value
    if kind == "csv":
        rows.to_csv(folder / "respondents.csv", index=False)
    else:
        rows.to_parquet(folder / "respondents.parquet", index=False)
    return folder


def _problems(spec: api.Spec, folder: Path, **how: object) -> list[str]:
    with pytest.raises(SapaError) as raised:
        api.rate_folder(spec, folder, **how)  # type: ignore[arg-type]
    return sorted(f"{d.code} {d.span} {d.message}" for d in raised.value.diagnostics)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_bad_rows_are_found_across_batches_as_in_one_read(tmp_path: Path, kind: str) -> None:
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    size = len(pd.read_csv(SPECS / "survey-data" / "respondents.csv"))
    late = 2 * size + 1  # in the last copy
    folder = _survey_data(tmp_path, {
        (1, "contact"): "phone", (late, "contact"): "fax",    # one finding over two batches
        (late - 1, "id"): "r1-0",                             # a key repeated batches apart
        (size, "service_code"): "S9",                         # a link to no service
        (3, "polite"): 7.0, (late, "polite"): 9.0,
        (0, "extra"): 1}, kind)                               # a column nobody declared
    whole = _problems(spec, folder, whole=True)
    assert [p.split()[0] for p in whole] == ["D402", "D404", "D404", "D406", "D407"]
    text = " ".join(whole)
    assert "2 values not one of office, web: row 2 ('phone'), row 16 ('fax')" in text
    assert "1 value not unique (the key is repeated): row 15 ('r1-0')" in text
    if kind == "csv":  # placed by line and column
        assert "respondents.csv:3:9 " in text and "respondents.csv:16:1 " in text
    for rows in (1, 4, size + 1, 1000):
        assert _problems(spec, folder, batch_rows=rows) == whole


def test_a_csv_cell_that_is_no_number_is_found_in_any_batch(tmp_path: Path) -> None:
    """Numbers are parsed while reading until a batch has a cell that is none; from that
    batch on the rest is read as text: the same findings and values as a whole read."""
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    size = len(pd.read_csv(SPECS / "survey-data" / "respondents.csv"))
    folder = _survey_data(tmp_path, {(size + 2, "queue"): "two", (2 * size, "polite"): "4,0",
                                     (2 * size + 1, "polite"): 6}, "csv")
    whole = _problems(spec, folder, whole=True)
    assert [p.split()[0] for p in whole] == ["D403", "D404"]
    assert f"row {size + 3} ('two')" in whole[0] and f"row {2 * size + 2} ('6')" in whole[1]
    for rows in (1, 3, size, 1000):
        assert _problems(spec, folder, batch_rows=rows) == whole
    clean = _survey_data(tmp_path / "clean", {(2 * size, "polite"): 4.0}, "csv")
    _same(api.rate_folder(spec, clean, whole=True)[0],
          api.rate_folder(spec, _survey_data(tmp_path / "comma", {(2 * size, "polite"): "4,0"},
                                             "csv"), batch_rows=4)[0])


def test_key_hashes_wait_on_disk_a_sixteenth_read_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys' hashes are written to files while the batches are read (none kept in memory
    with the batches), read back a bucket at a time, and the files removed at the end."""
    import tempfile

    spec, _ = api.check(str(SPECS / "survey.yaml"))
    folder = _survey_data(tmp_path, {(18, "id"): "r1-0", (40, "id"): "r7-1"})
    spill = tmp_path / "tmp"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    sizes: list[int] = []
    original = stream.KeyHashes.alike

    def alike(self: stream.KeyHashes) -> np.ndarray:
        written = sorted(Path(self._folder.name).iterdir())
        sizes.extend(p.stat().st_size for p in written)
        return original(self)

    monkeypatch.setattr(stream.KeyHashes, "alike", alike)
    problems = _problems(spec, folder, batch_rows=5)
    rows = len(pd.read_parquet(folder / "respondents.parquet"))
    assert len(sizes) == stream.KeyHashes.BUCKETS and sum(sizes) == 16 * rows
    assert [p.split()[0] for p in problems] == ["D406"] and "2 values" in problems[0]
    assert problems == _problems(spec, folder, whole=True)
    assert list(spill.iterdir()) == []  # removed


def test_a_folder_that_cannot_take_the_key_hashes_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from click.testing import CliRunner

    from sapa.cli import main

    folder = _survey_data(tmp_path, {})
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    result = CliRunner().invoke(main, ["rate", str(SPECS / "survey.yaml"), "--data",
                                       str(folder)])
    assert result.exit_code == 2 and "error[C119]" in result.output, result.output
    assert str(not_a_folder) in result.output and "Traceback" not in result.output
    with stream.KeyHashes("no keys") as hashes:  # no key hashed: no file needed, no error
        assert len(hashes.alike()) == 0


def test_a_file_that_breaks_off_is_reported_not_a_crash(tmp_path: Path) -> None:
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    folder = _survey_data(tmp_path / "csv", {}, "csv")
    lines = (folder / "respondents.csv").read_text().splitlines()
    lines[-3] += ",surplus"  # a ragged line in the last batches
    (folder / "respondents.csv").write_text("\n".join(lines) + "\n")
    whole = _problems(spec, folder, whole=True)
    assert len(whole) == 1 and whole[0].startswith("D409") and f"line {len(lines) - 2}" in whole[0]
    assert _problems(spec, folder, batch_rows=5) == whole
    broken = _survey_data(tmp_path / "parquet", {})
    data = (broken / "respondents.parquet").read_bytes()
    (broken / "respondents.parquet").write_bytes(data[:len(data) // 2])
    assert [p.split()[0] for p in _problems(spec, broken)] == ["D409"]


def test_text_codes_are_read_stripped_and_blank_is_missing(tmp_path: Path) -> None:
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    rows = pd.read_csv(SPECS / "survey-data" / "respondents.csv", dtype=str)
    clean = _survey_data(tmp_path / "clean", {(0, "region"): None})
    padded = _survey_data(tmp_path / "padded", {
        (0, "region"): "   ", **{(row, column): f" {value}  " for row, values in rows.iterrows()
                                for column, value in values.items()
                                if column in ("service_code", "contact", "region") and row}})
    assert pq.read_table(padded / "respondents.parquet").column("contact")[1].as_py() \
        == " office  "
    for rows_per_batch in (4, 1000):
        _same(api.rate_folder(spec, clean, batch_rows=rows_per_batch)[0],
              api.rate_folder(spec, padded, batch_rows=rows_per_batch)[0])


def test_text_read_as_codes_hands_on_the_codes_pandas_would_find() -> None:
    """The codes found while reading (values alike once stripped share one, blank is
    missing, in the order first met) are the ones pd.factorize finds in the values."""
    from sapa.engine.data.contract import check_frame

    spec, _ = api.check(str(SPECS / "survey.yaml"))
    table = spec.tables["respondents"]
    region = [" north", "south ", "", None, "north", "east", "  ", "south", "east "]
    raw = pd.DataFrame({
        "id": [f"r{i}" for i in range(len(region))], "service_code": "S1", "contact": "web",
        "region": pd.array(region, dtype=pd.StringDtype("pyarrow")),  # as Arrow reads text
        "received": True, "complained": False})
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    frame, _ = check_frame(table, raw, lambda row, column: None, "", spec.vocabulary, True,
                           codes)
    assert "region" in codes and "id" not in codes  # a key is not a code
    expected_codes, expected_values = pd.factorize(frame["region"])
    assert codes["region"][0].tolist() == expected_codes.tolist() == [0, 1, -1, -1, 0, 2,
                                                                        -1, 1, 2]
    assert list(codes["region"][1]) == list(expected_values) == ["north", "south", "east"]


def test_problems_of_other_tables_come_with_the_respondents(tmp_path: Path) -> None:
    spec, _ = api.check(str(SPECS / "survey.yaml"))
    folder = _survey_data(tmp_path, {(0, "contact"): "phone"})
    services = (folder / "services.csv").read_text(encoding="utf-8")
    (folder / "services.csv").write_text(services.replace("S1,A1,0,1", "S1,A1,maybe,1"),
                                         encoding="utf-8")
    whole = _problems(spec, folder, whole=True)
    assert [p.split()[0] for p in whole] == ["D403", "D404"]
    assert _problems(spec, folder, batch_rows=2) == whole


@pytest.mark.parametrize("overlay", [
    "tables:\n  services:\n    variables:\n      answered: 'count(respondents.polite)'\n",
    "survey:\n  exclude:\n    odd: {when: 'polite > mean(polite)'}\n",
])
def test_respondents_read_whole_where_a_formula_needs_them_all(tmp_path: Path,
                                                               overlay: str) -> None:
    path = tmp_path / "variant.yaml"
    path.write_text(f"extends: {SPECS / 'survey.yaml'}\n{overlay}", encoding="utf-8")
    spec, problems = api.load(str(path))
    assert spec is not None, problems
    folder = _survey_data(tmp_path, {})
    rated, _ = api.rate_folder(spec, folder, batch_rows=2)
    assert rated.inputs is not None  # read whole, so the aggregate sees every respondent
    plain, _ = api.check(str(SPECS / "survey.yaml"))
    assert api.rate_folder(plain, folder, batch_rows=2)[0].inputs is None
