"""What the grader writes: ``grades.csv``, ``runs.csv``, one feedback page per student, a summary.

Every text that a student could have influenced (folder names, values and error messages quoted
in feedback) is made inert before it is written (``clean``): control characters (C0, C1), bidi
and other invisible format characters and line breaks become spaces; links and e-mail addresses
are defused (``https[:]//…``, ``www[.]…``, ``name[at]host[.]org``) so that no reader, Markdown
renderer or spreadsheet makes them clickable; CSV cells that a spreadsheet would read as a
formula (``= + - @``, tab, CR) get a leading ``'``; Markdown/HTML characters in feedback are
escaped. Student labels are ``intake.safe_name``'s: one-to-one with the folder names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata

from tlcourse.grading.intake import safe_name

CSV_COLUMNS = ["student", "notebook", "exercise", "points", "max_points", "status", "message"]
RUN_COLUMNS = ["student", "notebook", "status", "seconds", "cell_errors", "first_error"]
TIMING_COLUMNS = ["start", "cells", "checks", "stop", "judge"]  # where a notebook's seconds went
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, format (bidi, zero-width), unassigned
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}):(?=//)")
_PSEUDO_SCHEME = re.compile(r"(?i)\b(mailto|javascript|data|file|tel|vbscript):")
_WWW = re.compile(r"(?i)\bwww\.")
_EMAIL = re.compile(r"([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def _visible(c: str) -> str:
    return c if c == " " or unicodedata.category(c) not in _INVISIBLE else " "


def defuse(text: str) -> str:
    """Links and e-mail addresses in ``text`` made unclickable, still readable."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}[at]{m.group(2).replace('.', '[.]')}", text)
    text = _SCHEME.sub(r"\1[:]", text)
    text = _PSEUDO_SCHEME.sub(r"\1[:]", text)
    return _WWW.sub("www[.]", text)


def clean(text, limit: int = 600) -> str:
    """Student-influenced ``text`` as one inert line: visible characters only, links defused, at most ``limit``."""
    return defuse("".join(_visible(c) for c in str(text)[: 4 * limit]))[:limit]


def one_line(text: str, limit: int = 600) -> str:
    """``text`` without control or invisible characters or line breaks, at most ``limit`` characters.

    For the grader's own fields (and an instructor's roster): links and addresses are left as they are.
    """
    return "".join(_visible(c) for c in str(text)[: 4 * limit])[:limit]


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text (never evaluates as a formula)."""
    text = one_line(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def markdown_text(text: str) -> str:
    """Student-influenced text as literal Markdown (no links, images, HTML, headings or code)."""
    return _MARKDOWN.sub(r"\\\1", clean(text))


def short_label(student: str, width: int = 40) -> str:
    """A student's label cut to ``width`` for a table, still one-to-one (a hash of the name when cut)."""
    label = safe_name(student)
    if len(label) <= width:
        return label
    return label[: width - 7] + "~" + hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:6]


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
                "message": clean(fb.message),
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
                "first_error": clean(
                    r.run.cell_errors[0] if r.run.cell_errors else (r.run.message if r.run.status != "ok" else "")
                ),
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
    labels = {s: short_label(s) for s in students}
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
