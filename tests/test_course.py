"""The course runner executes notebooks with papermill and gathers their numbers."""

import json

import nbformat

from tlcourse.course import run_course


def _notebook(path, code_cells):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("QUICK = False")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in code_cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_collects_each_lessons_numbers_and_passes_quick(tmp_path, capsys):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    _notebook(lessons / "01_a.ipynb", ["from tlcourse.results import record", "record('01_a', quick=QUICK, x=0.5)"])
    _notebook(lessons / "02_b.ipynb", ["from tlcourse.results import record", "record('02_b', y=2)"])
    assert run_course(lessons, tmp_path / "build", quick=True) == 0
    results = json.loads((tmp_path / "build" / "results.json").read_text())
    assert results["01_a"]["quick"] is True and results["01_a"]["x"] == 0.5
    assert results["02_b"]["y"] == 2 and results["02_b"]["seconds"] > 0
    assert all(results[n]["peak_memory_mb"] > 10 for n in ("01_a", "02_b"))  # a Python kernel holds tens of MB
    assert (tmp_path / "build" / "executed" / "01_a.ipynb").exists()
    assert "01_a" in capsys.readouterr().out


def test_a_failing_lesson_is_reported_and_the_others_still_run(tmp_path, capsys):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    _notebook(lessons / "01_bad.ipynb", ["raise ValueError('boom')"])
    _notebook(lessons / "02_ok.ipynb", ["from tlcourse.results import record", "record('02_ok', y=1)"])
    assert run_course(lessons, tmp_path / "build") == 1
    out = capsys.readouterr().out
    assert "FAILED 01_bad.ipynb" in out
    assert json.loads((tmp_path / "build" / "results.json").read_text())["02_ok"]["y"] == 1
