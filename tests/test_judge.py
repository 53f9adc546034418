"""The serving judge (one per grading thread) gives exactly the verdicts fresh one-shot judges give.

Reports are made here the way the probe makes them in a grading kernel (lesson 2's honest answers
and a wrong set), then judged both ways: one long-lived judge fed honest, wrong, honest again (so
anything it carried from one notebook to the next would show), and a fresh judge per notebook.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from tests.lesson2_work import FULL, HONEST, LESSON, PREAMBLE
from tlcourse.checks import REGISTRY, keys, plain
from tlcourse.checks.probe import probe
from tlcourse.grading import judge, judging

WRONG = {
    "2.3": "def nearest_centroid(train_x, train_y, x):\n    return np.full(len(x), np.asarray(train_y)[0])",
    "2.4": "def trainable_fraction(model):\n    return 0.5",
}


def _reports(answers: list[str], seed: int) -> dict:
    """What the probe displays for each exercise of lesson 2, for these answers and grading seed."""
    namespace: dict = {"check": lambda *a, **k: None}
    for source in [PREAMBLE, *answers]:
        exec(source.replace("from tlcourse.checks import check", ""), namespace)
    cases = plain.loads(json.dumps(plain.encode(judge.probe_input(judge.grading_cases(LESSON, seed)))), builds=True)
    return {
        ex_id: json.dumps(probe(ex_id, REGISTRY[ex_id].names, cases[ex_id], namespace))
        for ex_id in judge.grading_cases(LESSON, seed)
    }


def _request(answers: list[str], seed: int) -> dict:
    return {"lesson": LESSON, "seed": seed, "hidden_file": None, "reports": _reports(answers, seed), "unprobed": ""}


@pytest.fixture(scope="module")
def requests():
    if keys() is None:
        pytest.skip("the answer keys are not installed (student edition)")
    wrong = [WRONG.get(f"2.{i + 1}", source) for i, source in enumerate(HONEST)]
    return {"honest": _request(HONEST, 11), "wrong": _request(wrong, 12)}


def _plain(feedback) -> list[dict]:
    return [asdict(fb) for fb in feedback]


def test_a_serving_judge_gives_the_verdicts_of_fresh_judges_and_what_it_leaves_goes_to_them(
    requests, tmp_path, monkeypatch
):
    fresh = {name: _plain(judging.judge_in_subprocess(r, tmp_path)) for name, r in requests.items()}
    assert {f["exercise"]: f["points"] for f in fresh["honest"]} == FULL
    wrong_points = {f["exercise"]: f["points"] for f in fresh["wrong"]}
    assert wrong_points["2.3"] < FULL["2.3"] and wrong_points["2.4"] < FULL["2.4"], wrong_points

    serving = judging.ServingJudge(None)
    try:
        order = ["honest", "wrong", "honest"]
        served = [serving.verdicts(requests[name]) for name in order]
        assert serving.usable(None)  # it served all three without failing
        ids = [f["exercise"] for f in fresh["honest"]]
        for name, verdicts in zip(order, served):
            assert _plain(verdicts[i] for i in ids) == fresh[name], name

        # It dies while a notebook is being judged (here: just before): fresh judges do that notebook.
        serving.proc.kill()
        serving.proc.wait()
        monkeypatch.setattr(serving, "usable", lambda hidden_file: True)  # so it is the one judge_notebook uses
        judging._SERVING.judge = serving
        feedback = judging.judge_notebook(requests["honest"], tmp_path)
    finally:
        judging.close_judges()
        serving.close()
    assert _plain(feedback) == fresh["honest"]
    assert getattr(judging._SERVING, "judge", None) is None


def test_the_judge_reads_the_graders_own_packages_and_nothing_beside_them(tmp_path):
    """The folder first on the judge's path holds links to tlcourse and its keys only: a folder of submissions
    unpacked beside the package (a student folder called ``keras``, say) is not importable by the judge."""
    import subprocess
    from pathlib import Path

    import tlcourse

    command = judging.judge_command(tmp_path)
    first = Path(command[command.index("-c") + 2])
    assert sorted(p.name for p in first.iterdir()) == ["tlcourse", "tlcourse_keys"]
    assert (first / "tlcourse").resolve() == Path(tlcourse.__file__).resolve().parent
    probe = command[:3] + ["import sys; sys.path.insert(0, sys.argv.pop(1)); import tlcourse; print(tlcourse.__file__)"]
    out = subprocess.run(probe + [str(first)], capture_output=True, text=True, timeout=60)
    assert Path(out.stdout.strip()).resolve() == Path(tlcourse.__file__).resolve(), out.stderr
