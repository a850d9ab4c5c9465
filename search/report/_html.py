"""The report page: one self-contained HTML file (inline CSS and SVG, no script, no outside address)."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from search.errors import UsageError
from search.plots import line_plot
from search.report._gather import CONFIRMED_KEYS, ReportData, gather
from search.tracking.views import trials_link

if TYPE_CHECKING:
    import optuna

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;max-width:1300px;
padding:0 1.5em 3em;color:#222;line-height:1.4}
header{border-bottom:2px solid #1f77b4;margin-bottom:1em}nav a{margin-right:1em}
section{margin:1.5em 0;padding-top:.3em;border-top:1px solid #ddd}h2{margin:.4em 0}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}figcaption{font-weight:600}
svg{max-width:100%;height:auto}.none{color:#666;font-style:italic}code{background:#f4f4f4;padding:0 .2em}
"""


def check_out(out: str) -> Path:
    """The file ``--out`` names, refused with one line when its folder is missing or it is a folder."""
    path = Path(out).expanduser()
    if path.is_dir():
        raise UsageError(f"Cannot write --out {out!r}: it is a folder; name the HTML file to write.")
    if not path.parent.is_dir():
        raise UsageError(f"Cannot write --out {out!r}: folder {str(path.parent)!r} does not exist.")
    return path.resolve()


def write_report(study: optuna.Study, tracking_uri: str, out: Path) -> Path:
    """Writes the report of ``study`` to ``out`` at once (a temporary file beside it, then renamed)."""
    page = render(gather(study, tracking_uri))
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return out


def render(data: ReportData) -> str:
    """The report as one HTML page: a section per ``SECTIONS`` entry, each ``<section id>`` with its ``<h2>``."""
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in SECTIONS)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>\n{part(data)}</section>\n'
                   for key, title, part in SECTIONS)
    title = f"Study {data.study}: search report"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><header><h1>{escape(title)}</h1><nav>{nav}</nav></header>\n"
            f"{body}</body></html>\n")


def _text(value: Any) -> str:
    """A stored value in words: ``k=v, ...`` for a mapping, comma-separated items, ``-`` for nothing."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_text, value)) or "none"
    return "-" if value is None else str(value)


def _figure(value: Any) -> str:
    """A measured figure: numbers to 6 significant digits, anything else as :func:`_text`."""
    return f"{value:.6g}" if isinstance(value, float) else _text(value)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    """An HTML table of ``rows`` under ``head``; every cell escaped, numbers right-aligned."""
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    lines = ["<tr>" + "".join(f'<td class="num">{escape(str(c))}</td>' if isinstance(c, (int, float))
                              else f"<td>{escape(_text(c))}</td>" for c in row) + "</tr>" for row in rows]
    return f"<table><tr>{cells}</tr>{''.join(lines)}</table>\n"


def _pairs(rows: list[tuple[str, Any]]) -> str:
    """A two-column table of ``(name, value)`` rows, the names as row headers."""
    lines = "".join(f"<tr><th>{escape(name)}</th><td>{escape(_text(value))}</td></tr>" for name, value in rows)
    return f"<table>{lines}</table>\n"


def _none(text: str) -> str:
    return f'<p class="none">{escape(text)}</p>\n'


def _settings(data: ReportData) -> str:
    study = _pairs(list(data.settings.items()))
    if not data.tracked.params:
        return study + _none("The MLflow store has no `search run` parent run of this study.")
    params = _pairs(sorted(data.tracked.params.items()))
    return f"{study}<h3>MLflow parent run params (latest <code>search run</code>)</h3>\n{params}"


def _best(data: ReportData) -> str:
    if data.best is None:
        return _none(data.no_best or "no completed trial")
    shown = ("trial", "objective", "direction", "value", "mlflow_run_id")  # the value as `search best` prints it
    head = _pairs([(key, str(data.best[key])) for key in shown])
    params = _pairs([(k, str(v)) for k, v in data.best["params"].items()])
    return f"{head}<h3>Parameters</h3>\n{params}"


def _plots(data: ReportData) -> str:
    figures = "".join(f"<figure><figcaption>{escape(name.replace('_', ' '))}</figcaption>{svg}</figure>\n"
                      for name, svg in data.tracked.plots.items())
    notes = [[name, why] for name, why in data.tracked.plot_notes.items()]
    if not figures:
        figures = _none("The study's parent run has no study plots.")
    return figures + (_table(["plot not drawn", "why"], notes) if notes else "")


def _curves(data: ReportData) -> str:
    if not data.curves:
        return _none("No completed trial reported a value per epoch.")
    series = [{"label": f"trial {c.trial} ({c.value:.4g})", "x": c.epochs, "y": c.values} for c in data.curves]
    title = f"{data.objective} per epoch: the best {len(data.curves)} trials"
    svg = line_plot(series, title=title, xlabel="epoch", ylabel=data.objective).text
    rows = [[c.trial, c.value, len(c.epochs)] for c in data.curves]
    return f"<figure>{svg}</figure>\n" + _table(["trial", data.objective, "epochs"], rows)


def _failures(data: ReportData) -> str:
    if not data.failures:
        return _none("none: no trial failed or was pruned.")
    return "<ul>" + "".join(f"<li>{escape(group.line())}</li>" for group in data.failures) + "</ul>\n"


def _doctor(data: ReportData) -> str:
    audits = _table(["gradient audit", "trials"], sorted(map(list, data.audits.items()))) if data.audits else ""
    if not data.findings:
        return audits + _none("none: the doctor found no gradient problem and no training event.")
    return audits + _table(["trial", "state", "finding"], [[f.trial, f.state, f.text] for f in data.findings])


def _baselines(data: ReportData) -> str:
    rows = [[b.name, b.protocol, _figure(b.metrics.get(data.objective)), _metrics(b.metrics, data.objective)]
            for b in data.tracked.baselines]
    shown = (_table(["baseline", "protocol", data.objective, "other metrics"], rows) if rows
             else _none("none: no `search baseline` was logged for this study."))
    confirmed = [[c.trial, *(c.figures.get(k) for k in CONFIRMED_KEYS)] for c in data.confirmed]
    shown += "<h3>Confirmed trials</h3>\n"
    return shown + (_table(["trial", *CONFIRMED_KEYS], [[_figure(v) for v in row] for row in confirmed])
                    if confirmed else _none("none: no trial has confirmed figures."))


def _metrics(metrics: dict[str, float], objective: str) -> str:
    return ", ".join(f"{k}={v:.6g}" for k, v in metrics.items() if k != objective) or "-"


def _mlflow(data: ReportData) -> str:
    tracked = data.tracked
    rows = _pairs([("tracking URI", data.tracking_uri), ("experiment id", tracked.experiment_id),
                   ("parent run id", tracked.parent_run_id)])
    if tracked.experiment_id is None:
        return rows + _none("The MLflow store has no experiment for this study.")
    link = trials_link(tracked.experiment_id, data.tracking_uri)  # the study's trials, as `search run` prints it
    if data.tracking_uri.startswith(("http://", "https://")):
        return rows + f'<p>Trial runs: <a href="{escape(link)}">{escape(link)}</a></p>\n'
    return rows + (
        f"<p>Run <code>search ui</code> (with this study's <code>--home</code> or <code>--tracking-uri</code>) "
        f"to browse them, then open {escape(link)}</p>\n")


SECTIONS: tuple[tuple[str, str, Callable[[ReportData], str]], ...] = (
    ("settings", "Settings", _settings),
    ("best", "Best trial", _best),
    ("plots", "Study plots", _plots),
    ("curves", "Learning curves", _curves),
    ("failures", "Failures and prunes", _failures),
    ("doctor", "Doctor's findings", _doctor),
    ("baselines", "Baselines and confirmed figures", _baselines),
    ("mlflow", "MLflow", _mlflow),
)
