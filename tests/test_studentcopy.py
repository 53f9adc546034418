"""Student copies: answers replaced by stubs, outputs gone, regeneration detects staleness."""

import nbformat
import pytest

from tlcourse.errors import CourseError
from tlcourse.studentcopy import generate, solution_blocks, strip_code, student_copy

MASTER_CODE = """x = 1
### BEGIN SOLUTION
#> answer = None  # the mean of x and 3
answer = (x + 3) / 2
### END SOLUTION
check("9.1", answer=answer)"""


def test_stub_replaces_the_solution():
    student = strip_code(MASTER_CODE)
    assert student.splitlines() == ["x = 1", "answer = None  # the mean of x and 3", 'check("9.1", answer=answer)']
    assert solution_blocks(MASTER_CODE) == [["answer = (x + 3) / 2"]]


def test_block_without_stub_gets_a_body_that_raises_at_its_indent():
    code = "def f():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n"
    namespace = {}
    exec(strip_code(code), namespace)  # an empty body would be an IndentationError
    with pytest.raises(NotImplementedError, match="write your code"):
        namespace["f"]()


def test_unbalanced_markers_are_errors():
    with pytest.raises(CourseError, match="without"):
        strip_code("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(CourseError, match="without"):
        strip_code("x = 1\n### END SOLUTION")


def _master():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(MASTER_CODE)
    code.outputs = [nbformat.v4.new_output("stream", text="big output")]
    code.execution_count = 3
    md = nbformat.v4.new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause BN.\n<!-- END SOLUTION -->")
    hidden = nbformat.v4.new_code_cell("secret = 42")
    hidden.metadata["tags"] = ["solution"]
    nb.cells = [code, md, hidden]
    return nb


def test_student_copy_has_no_answers_and_no_outputs():
    nb = student_copy(_master())
    text = nbformat.writes(nb)
    assert "(x + 3) / 2" not in text and "Because BN" not in text and "secret" not in text
    assert "*Write your answer here.*" in nb.cells[1].source
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert len(nb.cells) == 2


def test_generate_writes_then_reports_nothing_stale(tmp_path, toy_manifest):
    toy_manifest("01_x")
    solutions, lessons = tmp_path / "solutions", tmp_path / "lessons"
    solutions.mkdir()
    nbformat.write(_master(), solutions / "01_x.ipynb")
    assert generate(solutions, lessons) == ["01_x.ipynb"]
    assert generate(solutions, lessons, check=True) == []
    master = nbformat.read(solutions / "01_x.ipynb", as_version=4)
    master.cells[0].source += "\nprint('new')"
    nbformat.write(master, solutions / "01_x.ipynb")
    assert generate(solutions, lessons, check=True) == ["01_x.ipynb"]
    (lessons / "02_orphan.ipynb").write_text("{}")
    assert "02_orphan.ipynb (no master)" in generate(solutions, lessons, check=True)
    nbformat.write(_master(), solutions / "03_unlisted.ipynb")  # a master the manifest does not list yet
    assert any(s.startswith("03_unlisted.ipynb (not a lesson") for s in generate(solutions, lessons, check=True))
