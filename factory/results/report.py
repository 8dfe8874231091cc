"""`report.html`: one self-contained page (images embedded) with the table, plots, failures and spec."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Sequence

from factory.results import stats
from factory.atomic import write_text

STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:nth-child(-n+2){text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:13px}.failed{color:#b00}
pre.reason{white-space:pre-wrap;margin:.3em 0 1em}"""


def _html_table(headings, cells) -> str:
    esc = html.escape
    return ("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headings) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in cells) + "</table>")


def render(title: str, rows: Sequence[dict], runs: Sequence[dict], images: dict[str, bytes],
           spec_yaml: str, versions: dict[str, str], pairs: Sequence[dict] = ()) -> str:
    """The report page as a string."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>",
             "<h2>Comparison</h2>" + _html_table(*stats.table(rows))]
    parts.append("<p>Values are the final (or best) epoch of each run; with several seeds, "
                 "mean ± sample standard deviation. 'Epochs to within 5% of best' is when val_loss "
                 "first came within 5% of the run's lowest val_loss.</p>")
    if pairs:
        parts.append("<h2>Differences between models</h2><p>Each difference is the later model minus the "
                     "earlier, over the seeds both completed; a paired t-test says whether it is larger "
                     "than the seed-to-seed noise, its p-value Holm-adjusted over the pairs compared "
                     "(one family per metric). 'What differs' compares the layers and the compile, "
                     "training and data settings, seeds aside.</p>" + _html_table(*stats.pair_table(pairs)))
    failed = [r for r in runs if r["status"] == "failed"]
    if failed:
        parts.append("<h2 class='failed'>Failed runs</h2><ul>")
        # the whole reason, every line of it: the first line of a Keras error rarely holds the cause
        parts += [f"<li class='failed'>{esc(r['model'])} seed {r['seed']}:"
                  f"<pre class='reason'>{esc(r.get('error') or 'no reason recorded')}</pre></li>" for r in failed]
        parts.append("</ul>")
    from factory.results.plots import title as figure_title

    for name, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        heading = figure_title(name)
        parts.append(f"<h2>{esc(heading)}</h2><img alt='{esc(heading)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Resolved experiment</h2><pre>" + esc(spec_yaml) + "</pre>")
    parts.append("<h2>Versions</h2><ul>" + "".join(
        f"<li>{esc(k)}: {esc(str(v))}</li>" for k, v in versions.items()) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(path: Path, title: str, rows, runs, plot_paths: Sequence[Path], spec_yaml: str,
                 versions: dict, pairs: Sequence[dict] = ()) -> None:
    images = {Path(p).stem: Path(p).read_bytes() for p in plot_paths}
    write_text(Path(path), render(title, rows, runs, images, spec_yaml, versions, pairs))


# Clicking a heading sorts the table by that column (numbers as numbers, blanks last); again reverses.
SORT_SCRIPT = """document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], rows = [...body.rows], up = th.dataset.dir !== 'up';
  const key = r => { const t = r.cells[col].textContent.trim(), n = parseFloat(t);
    return t === '' ? null : isNaN(n) || !/^[-+.\\d]/.test(t) ? t : n; };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    return (typeof x === typeof y ? (x < y ? -1 : x > y) : typeof x === 'number' ? -1 : 1) * (up ? 1 : -1); });
  th.closest('tr').querySelectorAll('th').forEach(h => delete h.dataset.dir); th.dataset.dir = up ? 'up' : 'down';
  rows.forEach(r => body.appendChild(r)); }));"""


def sortable_table(headings, cells) -> str:
    """An HTML table whose rows sort by a column when its heading is clicked (with `SORT_SCRIPT` on the page)."""
    esc = html.escape
    return ("<table class='sortable'><thead><tr>" + "".join(f"<th style='cursor:pointer'>{esc(h)}</th>"
                                                            for h in headings) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in cells)
            + "</tbody></table>")


def write_search_report(path: Path, title: str, intro: str, headings, cells, plot_paths: Sequence[Path],
                        confirmation: str) -> None:
    """A search's report.html: the sortable trials table, the history and importance plots, the confirmation."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1><p>{esc(intro)}</p>",
             "<h2>Trials</h2><p>Click a heading to sort by it.</p>" + sortable_table(headings, cells)]
    for p in plot_paths:
        data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
        heading = Path(p).stem.replace("_", " ").capitalize()
        parts.append(f"<h2>{esc(heading)}</h2><img alt='{esc(heading)}' src='data:image/png;base64,{data}'>")
    parts.append(f"<h2>Confirmation</h2><pre>{esc(confirmation)}</pre>")
    parts.append(f"<script>{SORT_SCRIPT}</script></body></html>\n")
    write_text(Path(path), "\n".join(parts))
