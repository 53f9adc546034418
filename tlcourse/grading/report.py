"""What the grader writes: ``grades.csv``, ``runs.csv``, one feedback page per student, a summary.

Every text that a student could have influenced (folder names, values and error messages quoted
in feedback) is made inert before it is written: control characters and newlines become spaces,
CSV cells that a spreadsheet would read as a formula (``= + - @``, tab, CR) get a leading ``'``,
and Markdown/HTML characters in feedback are escaped.
"""

from __future__ import annotations

import csv
import io
import re

from tlcourse.grading.intake import safe_name

CSV_COLUMNS = ["student", "notebook", "exercise", "points", "max_points", "status", "message"]
RUN_COLUMNS = ["student", "notebook", "status", "seconds", "cell_errors", "first_error"]
TIMING_COLUMNS = ["start", "cells", "checks", "stop", "judge"]  # where a notebook's seconds went
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def one_line(text: str, limit: int = 600) -> str:
    """``text`` without control characters or line breaks, at most ``limit`` characters."""
    return _CONTROL.sub(" ", str(text))[:limit]


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text (never evaluates as a formula)."""
    text = one_line(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def markdown_text(text: str) -> str:
    """Student-influenced text as literal Markdown (no links, images, HTML, headings or code)."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


def _csv(columns: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return buffer.getvalue()


def grades_csv(results) -> str:
    return _csv(
        CSV_COLUMNS,
        [
            {
                "student": safe_name(r.student),
                "notebook": f"{r.lesson}.ipynb",
                "exercise": fb.exercise,
                "points": f"{fb.points:g}",
                "max_points": f"{fb.max_points:g}",
                "status": fb.status,
                "message": fb.message,
            }
            for r in results
            for fb in r.feedback
        ],
    )


def runs_csv(results) -> str:
    """One row per notebook: how its run went (status, seconds, cells that raised), for the instructor."""
    return _csv(
        RUN_COLUMNS + [f"{k}_s" for k in TIMING_COLUMNS],
        [
            {
                "student": safe_name(r.student),
                "notebook": f"{r.lesson}.ipynb",
                "status": r.run.status,
                "seconds": f"{r.run.seconds:.1f}",
                "cell_errors": len(r.run.cell_errors),
                "first_error": r.run.cell_errors[0]
                if r.run.cell_errors
                else (r.run.message if r.run.status != "ok" else ""),
                **{f"{k}_s": f"{r.run.timings[k]:.1f}" if k in r.run.timings else "" for k in TIMING_COLUMNS},
            }
            for r in results
        ],
    )


def feedback_markdown(student: str, results) -> str:
    total = sum(fb.points for r in results for fb in r.feedback)
    total_max = sum(fb.max_points for r in results for fb in r.feedback)
    lines = [
        f"# Feedback for {markdown_text(safe_name(student))}",
        "",
        f"**Total: {total:g} / {total_max:g} points**",
        "",
    ]
    for r in sorted(results, key=lambda r: r.lesson):
        points = sum(fb.points for fb in r.feedback)
        maximum = sum(fb.max_points for fb in r.feedback)
        lines += [f"## {r.lesson} — {points:g} / {maximum:g}", ""]
        if r.run.status != "ok":
            lines += [f"> **{r.run.status}**: {markdown_text(r.run.message)}", ""]
        for error in r.run.cell_errors[:5]:
            lines.append(f"- a cell raised an error — {markdown_text(error)}")
        if r.run.cell_errors:
            lines.append("")
        for fb in r.feedback:
            lines.append(
                f"### Exercise {fb.exercise} — {markdown_text(fb.title)}: {fb.points:g}/{fb.max_points:g} ({fb.status})"
            )
            lines += [f"- ✔ {markdown_text(item)}" for item in fb.right] + [
                f"- ✘ {markdown_text(item)}" for item in fb.wrong
            ]
            if fb.hint and fb.status != "pass":
                lines.append(f"- Hint: {markdown_text(fb.hint)}")
            lines.append("")
    return "\n".join(lines)


def summary_table(results) -> str:
    """Students down, lessons across, points/maximum in each cell."""
    lesson_names = sorted({r.lesson for r in results})
    students = sorted({r.student for r in results})
    labels = {s: safe_name(s)[:40] for s in students}
    width = max([len(label) for label in labels.values()] + [7])
    header = f"{'student':<{width}} " + " ".join(f"{name[:2]:>9}" for name in lesson_names) + f" {'total':>11}"
    lines = [header]
    for student in students:
        cells, total, total_max = [], 0.0, 0.0
        for lesson in lesson_names:
            fbs = [fb for r in results if r.student == student and r.lesson == lesson for fb in r.feedback]
            points, maximum = sum(f.points for f in fbs), sum(f.max_points for f in fbs)
            total, total_max = total + points, total_max + maximum
            cells.append(f"{points:>4g}/{maximum:<4g}")
        lines.append(f"{labels[student]:<{width}} " + " ".join(cells) + f" {total:>5g}/{total_max:<5g}")
    return "\n".join(lines)
