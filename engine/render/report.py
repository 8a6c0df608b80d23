"""Ratings as one self-contained HTML report: a contents list, each rating as a sortable table
and a chart, and a summary of the method. Everything is inline (styles, scripts and the
charting library), so the file opens from disk with no network.

Charts are drawn by Plotly: a well-kept library whose whole JavaScript bundle ships inside the
Python package, so it is written into the file rather than fetched from a CDN, and the charts
stay interactive (values on hover) in any browser."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from sapa.engine.formula import round_half_up
from sapa.engine.render.present import Shown
from sapa.engine.spec import Spec, labels, text_of

WORDS = {  # the report's own words
    "contents": {"ru": "Содержание", "kk": "Мазмұны", "en": "Contents"},
    "method": {"ru": "Методика", "kk": "Әдістеме", "en": "Method"},
    "criteria": {"ru": "Критерии", "kk": "Критерийлер", "en": "Criteria"},
    "zones": {"ru": "Зоны ответственности", "kk": "Жауапкершілік аймақтары",
              "en": "Zones of responsibility"},
    "scale": {"ru": "Шкала оценок", "kk": "Бағалау шкаласы", "en": "Scale"},
    "made": {"ru": "Сформировано", "kk": "Жасалды", "en": "Made by"},
    "rows": {"ru": "строк", "kk": "жол", "en": "rows"},
    "sort": {"ru": "нажмите на заголовок, чтобы отсортировать",
             "kk": "сұрыптау үшін тақырыпты басыңыз", "en": "click a header to sort"},
}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1d2733}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.5rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.25rem .45rem;vertical-align:top}
th{background:#f1f4f7;cursor:pointer;text-align:left}td.n{text-align:right;white-space:nowrap}
tr.total td{font-weight:600;background:#fafbfc}.note{color:#57606a;font-size:.8rem}
nav li{margin:.15rem 0}
"""

SORTING = """
document.querySelectorAll("table.rating").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows).filter(function (r) {
        return !r.classList.contains("total"); });
      var totals = Array.from(body.rows).filter(function (r) {
        return r.classList.contains("total"); });
      var up = th.dataset.dir !== "asc"; th.dataset.dir = up ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return up ? c : -c; });
      rows.concat(totals).forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def html_report(title: str, ratings: list[Shown], language: str, spec: Spec | None,
                method: Mapping[str, Any]) -> str:
    """The whole report as one HTML document: the ratings, then the method (`spec`'s criteria,
    zones and scale, when there is one) and what made it."""
    word = {key: text_of(value, language) for key, value in WORDS.items()}
    parts = [f"<h1>{_e(title)}</h1>", f"<nav><h2>{_e(word['contents'])}</h2><ol>"]
    parts += [f'<li><a href="#{_e(r.id)}">{_e(r.title)}</a></li>' for r in ratings]
    parts.append(f'<li><a href="#method">{_e(word["method"])}</a></li></ol></nav>')
    for rating in ratings:
        parts.append(_section(rating, word))
    parts.append(_method(spec, language, word, method))
    return (f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>{''.join(parts)}"
            f"<script>{SORTING}</script></body></html>")


def _section(rating: Shown, word: Mapping[str, str]) -> str:
    frame = rating.frame
    units = frame[frame["unit"].notna()] if "unit" in frame.columns else frame
    head = "".join(f"<th>{_e(rating.headers[c])}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        total = "unit" in frame.columns and bool(pd.isna(row["unit"]))
        cells = "".join(_cell(row[c], rating, str(c)) for c in frame.columns)
        body.append(f'<tr{" class=total" if total else ""}>{cells}</tr>')
    chart = _chart(rating, units)
    return (f'<section id="{_e(rating.id)}"><h2>{_e(rating.title)}</h2>'
            f'<p class="note">{len(units)} {_e(word["rows"])}; {_e(word["sort"])}'
            + (f"; {_e(rating.source)}" if rating.source else "") + "</p>"
            + (f'<div class="chart" data-rating="{_e(rating.id)}">{chart}</div>' if chart else "")
            + f'<table class="rating" data-rating="{_e(rating.id)}"><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table></section>")


def _cell(value: Any, rating: Shown, column: str) -> str:
    missing = value is None or (isinstance(value, float) and np.isnan(value))
    if missing:
        return '<td class="n" data-v="">—</td>'
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        digits = rating.digits.get(column)
        number = float(value)
        shown = (f"{float(round_half_up(number, digits)):.{digits}f}" if digits is not None
                 else f"{number:.0f}" if rating.whole(column) else f"{number:.4g}")
        return f'<td class="n" data-v="{number!r}">{shown}</td>'
    return f'<td data-v="{_e(str(value))}">{_e(str(value))}</td>'


def _chart(rating: Shown, units: Any) -> str:
    if units.empty:
        return ""
    if rating.chart == "slope":
        return _slope(rating, units)
    if rating.chart == "lines":
        return _lines(rating, units)
    if rating.chart == "intervals":
        return _rank_intervals(rating, units)
    return _bars(rating, units) + (_rank_intervals(rating, units)
                                   if {"rank", "rank_low", "rank_high"} <= set(units) else "")


def _rank_intervals(rating: Shown, units: Any) -> str:
    """Each unit's rank and its interval (a bootstrap's, or its range over a sensitivity
    analysis's combinations): a dot on a line."""
    ranked = units.dropna(subset=["rank"])
    if ranked.empty:
        return ""
    rank = ranked["rank"].astype(float)
    figure = go.Figure(go.Scatter(
        x=rank, y=[_short(n) for n in _names(ranked)], mode="markers",
        error_x={"type": "data", "symmetric": False,
                 "array": ranked["rank_high"].astype(float) - rank,
                 "arrayminus": rank - ranked["rank_low"].astype(float)},
        hovertext=_names(ranked), hoverinfo="x+text", marker_color="#2f6f9f"))
    figure.update_layout(
        height=max(240, 22 * len(ranked) + 80), margin={"l": 20, "r": 40, "t": 30, "b": 30},
        xaxis={"title": rating.headers["rank"]},
        yaxis={"autorange": "reversed", "automargin": True}, plot_bgcolor="white")
    return _html(figure, f"ranks-{rating.id}")


def _names(units: Any) -> list[str]:
    names = units["name"].where(units["name"].notna(), units["unit"]) if "name" in units \
        else units["unit"]
    return [str(n) for n in names]


def _short(name: str) -> str:
    return name[:60] + "…" if len(name) > 60 else name


def _html(figure: go.Figure, div_id: str) -> str:
    """A chart as a div and its script; Plotly itself is in the page's head, once."""
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                          config={"displaylogo": False, "responsive": True})


def _slope(rating: Shown, units: Any) -> str:
    """Each unit's rank under A and under B, joined by a line (a rank-change chart)."""
    both = units.dropna(subset=["rank_a", "rank_b"])
    if both.empty:
        return ""
    figure = go.Figure()
    for name, a, b in zip(_names(both), both["rank_a"], both["rank_b"], strict=True):
        figure.add_trace(go.Scatter(
            x=list(rating.periods), y=[a, b], mode="lines+markers", name=_short(name),
            hovertext=name, hoverinfo="y+text",
            line={"color": "#2f6f9f" if b <= a else "#b5523b", "width": 1.5}))
    figure.update_layout(height=max(320, 16 * len(both) + 120), showlegend=False,
                         yaxis={"autorange": "reversed", "title": rating.headers["rank_b"]},
                         margin={"l": 40, "r": 40, "t": 30, "b": 30}, plot_bgcolor="white")
    return _html(figure, f"chart-{rating.id}")


def _lines(rating: Shown, units: Any) -> str:
    """A unit's value over the periods, one line per unit."""
    periods = [p for p in rating.periods if p in units.columns]
    figure = go.Figure()
    for name, (_, row) in zip(_names(units), units.iterrows(), strict=True):
        figure.add_trace(go.Scatter(x=periods, y=[row[p] for p in periods],
                                    mode="lines+markers", name=_short(name), hovertext=name,
                                    hoverinfo="x+y+text"))
    figure.update_layout(height=420, showlegend=len(units) <= 20,
                         margin={"l": 40, "r": 20, "t": 30, "b": 30}, plot_bgcolor="white")
    return _html(figure, f"chart-{rating.id}")


def _bars(rating: Shown, units: Any) -> str:
    """Horizontal bars of the rating's first printed figure (its score), best at the top, with
    the number of respondents beside each bar where the rating has it."""
    figures = [c for c in units.columns if rating.digits.get(str(c)) is not None]
    if not figures:
        return ""
    column = figures[0]
    names = _names(units)
    short = [_short(n) for n in names]
    values = units[column].astype(float)
    text = [f"n = {int(n)}" if n == n else "" for n in units["n"]] if "n" in units else None
    figure = go.Figure(go.Bar(
        x=values, y=short, orientation="h", text=text, textposition="outside",
        hovertext=names, hoverinfo="x+text",
        marker_color="#2f6f9f"))
    digits = rating.digits[str(column)] or 0
    known = values.dropna()
    low = float(known.min()) if len(known) else 0.0
    figure.update_layout(
        height=max(240, 22 * len(units) + 80), margin={"l": 20, "r": 60, "t": 30, "b": 30},
        xaxis={"title": rating.headers[column], "range": [max(0.0, low - 0.1 * abs(low)),
                                                           float(known.max()) * 1.04
                                                           if len(known) else 1],
               "tickformat": f".{digits}f"},
        yaxis={"autorange": "reversed", "automargin": True}, plot_bgcolor="white")
    return _html(figure, f"chart-{rating.id}")


def _method(spec: Spec | None, language: str, word: Mapping[str, str],
            method: Mapping[str, Any]) -> str:
    data = spec.data if spec is not None else {}
    rows = []
    for section, key in (("criteria", "label"), ("zones", "label")):
        names = [text_of((raw or {}).get(key), language) or name
                 for name, raw in (data.get(section) or {}).items()]
        if names:
            rows.append(f"<h3>{_e(word[section])}</h3><ul>"
                        + "".join(f"<li>{_e(n)}</li>" for n in names) + "</ul>")
    marks = ((data.get("scale") or {}).get("labels") or {})
    if marks:
        rows.append(f"<h3>{_e(word['scale'])}</h3><ul>" + "".join(
            f"<li>{_e(str(mark))}: {_e(text_of(label, language))}</li>"
            for mark, label in marks.items()) + "</ul>")
    made = "".join(f"<tr><th>{_e(str(k))}</th><td>{_e(json.dumps(v, ensure_ascii=False))}"
                   "</td></tr>" for k, v in method.items())
    about = f"{spec.id} · {', '.join(labels.languages(data))}" if spec is not None else ""
    return (f'<section id="method"><h2>{_e(word["method"])}</h2>'
            f'<p class="note">{_e(about)}</p>{"".join(rows)}'
            f"<h3>{_e(word['made'])}</h3><table>{made}</table></section>")


def _e(text: str) -> str:
    return html.escape(text, quote=True)
