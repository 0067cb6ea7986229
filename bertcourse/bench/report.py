"""The results as tables: Markdown for the CLI, HTML for the book's Performance page."""

from __future__ import annotations

from html import escape

from . import encoder, levers, mfu, mlm, recipe_vs_transformers, time_to_accuracy, timings

# The tables in the order they are shown, each module holding its measure() and its rows().
TABLES = (encoder, mfu, levers, mlm, time_to_accuracy, recipe_vs_transformers, timings)
TITLES = {table.KEY: table.TITLE for table in TABLES}


def machine_line(results: dict) -> str:
    """The machine the numbers were measured on, in one line."""
    m = results["machine"]
    device = m.get("gpu") or m["device"]
    return (f"{m['cpu']}, {m['cpu_cores']} cores, {m['torch_threads']} torch threads, {m['cpu_capability']}, "
            f"native CPU bf16: {'yes' if m['native_cpu_bf16'] else 'no'}; device {device}; "
            f"torch {m['torch']}, transformers {m['transformers']}")


def tables(results: dict) -> dict[str, list[dict[str, str]]]:
    """The results as rows of strings, one list per table (for the CLI and the book)."""
    return {table.KEY: table.rows(results) for table in TABLES}


def markdown_table(rows: list[dict[str, str]]) -> str:
    """The rows as a Markdown table."""
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def report(results: dict) -> str:
    """The whole result as Markdown: the hardware line, then one table per benchmark."""
    parts = [f"Measured {results['started']} in {results['seconds']:.0f} s ({results['plan']['name']} plan, "
             f"{results['plan']['repeats']} interleaved repeats after {results['plan']['warmup']} warm-up) on: "
             f"{machine_line(results)}."]
    load = results["machine"].get("load_average")
    if load:
        parts[0] += (f" Load average (other work on the machine) at the start: {load[0]:.1f}, at the end: "
                     f"{(results['machine'].get('load_average_end') or load)[0]:.1f} on {results['machine']['cpu_cores']} cores.")
    for key, rows in tables(results).items():
        parts += ["", f"**{TITLES[key]}**", "", markdown_table(rows)]
    return "\n".join(parts)


def html_table(rows: list[dict[str, str]]) -> str:
    """The rows as an HTML table (the book renders it as is; Markdown tables need a GFM renderer)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(results: dict) -> str:
    """:func:`report` as HTML, for the book's Performance page."""
    header, *_ = report(results).split("\n", 1)
    parts = [f"<p>{escape(header)}</p>"]
    for key, rows in tables(results).items():
        parts += [f"<p><strong>{escape(TITLES[key])}</strong></p>", html_table(rows)]
    return "\n".join(parts)
