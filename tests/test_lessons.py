"""The committed notebooks: student copies up to date, no answers leaked, every lesson complete."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from tlcourse.checks import REGISTRY, exercises_of
from tlcourse.studentcopy import BEGIN, END, generate, solution_blocks

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "solutions").glob("[0-9]*.ipynb"))
LESSONS = sorted((ROOT / "lessons").glob("[0-9]*.ipynb"))


def _read(path):
    return nbformat.read(path, as_version=4)


def test_student_copies_are_generated_from_the_masters():
    stale = generate(ROOT / "solutions", ROOT / "lessons", check=True)
    assert stale == [], f"stale student copies {stale}: run `tlcourse lessons`"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_student_copy_contains_no_solution_code(master):
    student_text = (ROOT / "lessons" / master.name).read_text()
    assert BEGIN not in student_text and END not in student_text
    cells = _read(master).cells
    taught = "\n".join(_outside_solutions(c.source) if c.cell_type == "code" else c.source for c in cells)
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for block in solution_blocks(cell.source):
            for line in block:
                code = line.strip()
                if len(code) > 12 and not code.startswith("#") and code not in taught:
                    assert json.dumps(code)[1:-1] not in student_text, f"solution line leaked: {code}"


def _outside_solutions(source: str) -> str:
    """A code cell without its solution blocks: what the lesson shows anyway (a line the lesson teaches in
    its text or its other cells, e.g. `base.trainable = False`, is not a leak when an answer uses it too)."""
    kept, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def _papermill_parameters(cell) -> dict[str, str]:
    """What papermill reads from a parameters cell; every line must parse (no 'Unable to parse line')."""
    import logging

    from papermill.translators import PythonTranslator

    logger = logging.getLogger("papermill.translators")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        found = {p.name: p.default for p in PythonTranslator.inspect(cell)}
    finally:
        logger.removeHandler(handler)
    assert not seen, seen
    return found


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_lesson_structure(master):
    nb = _read(master)
    sources = [c.source for c in nb.cells]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Learning goals" in nb.cells[0].source, "the first cell states the learning goals"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert _papermill_parameters(params[0])["QUICK"] == "False"  # a real parameter: --quick passes True
    assert re.search(r"^#+ .*Summary", markdown, re.M) and re.search(r"^#+ .*Exercises", markdown, re.M)
    used = re.findall(r"check\(\"([\d.]+)\"", code)
    assert len(set(used)) >= 3, "at least three checked exercises"
    registered = {e.id for e in exercises_of(master.stem)}
    assert set(used) == registered, f"checks used {sorted(used)} vs registered for this lesson {sorted(registered)}"
    assert all(REGISTRY[i].lesson == master.stem for i in used)
    assert re.search(rf'record\(\s*"{master.stem}"', code), "the lesson records its headline numbers"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert len(sources) > 10


@pytest.mark.parametrize("path", MASTERS + LESSONS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebooks_are_committed_without_outputs(path):
    nb = _read(path)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert path.stat().st_size < 200_000


MARKDOWN_WORDS = 250  # issue 29: a student reads a cell, not a page; longer history goes to an appendix cell


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_no_markdown_cell_is_a_wall_of_text(master):
    long = {i: len(c.source.split()) for i, c in enumerate(_read(master).cells) if c.cell_type == "markdown"}
    long = {i: words for i, words in long.items() if words > MARKDOWN_WORDS}
    assert not long, f"markdown cells over {MARKDOWN_WORDS} words (cell: words): {long}"


def _silenced_calls(source: str) -> list[str]:
    """Calls in a code cell that pass ``progress=False`` (a wait with nothing on screen)."""
    import ast

    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return [
        ast.unparse(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and any(
            k.arg == "progress" and isinstance(k.value, ast.Constant) and k.value.value is False for k in node.keywords
        )
    ]


def test_the_progress_check_finds_a_silenced_run():
    """The control: the test below would see a silenced run, however it is spelled."""
    assert _silenced_calls("runs = [exp.run(s, progress=False) for s in SEEDS]") == ["exp.run"]
    assert _silenced_calls("fit(model, data, epochs=3, progress = False)") == ["fit"]
    assert _silenced_calls("fit(model, data, epochs=3)") == []


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_every_training_run_in_a_lesson_shows_progress(master):
    """Issue 29: a wait of more than ~15 s shows a bar or a line per epoch; ``progress=False`` shows nothing."""
    silenced = {
        i: calls
        for i, c in enumerate(_read(master).cells)
        if c.cell_type == "code" and (calls := _silenced_calls(c.source))
    }
    assert not silenced, f"progress=False in cells (cell: calls): {silenced}"


def _last_recorded_run() -> dict[str, tuple[int, int]]:
    """``{lesson: (default s, quick s)}`` from BENCHMARKS.md §5's table of the last recorded run."""
    text = (ROOT / "BENCHMARKS.md").read_text()
    table = text[text.index("#### The last recorded run") :]
    table = table[: table.index("\n\n", table.index("|"))]
    times = {}
    for line in table.splitlines():
        cells = [c.strip().strip("`*") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].isdigit() and cells[2].isdigit():
            times[cells[0]] = (int(cells[1]), int(cells[2]))
    return times


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_each_lesson_states_the_time_of_the_last_recorded_run(master):
    """Issue 29: no lesson promises a time it did not measure; its first cell quotes BENCHMARKS.md §5's last run."""
    times = _last_recorded_run()
    assert master.stem in times, f"BENCHMARKS.md §5's last recorded run has no row for {master.stem}"
    default, quick = times[master.stem]
    first = _read(master).cells[0].source
    assert f"{default} s" in first and f"{quick} s" in first and "BENCHMARKS.md §5" in first, (
        f"the first cell must state the last recorded run: {default} s (default), {quick} s (quick), BENCHMARKS.md §5"
    )
