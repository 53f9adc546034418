"""ruff is clean on the package, the answer keys, the tests, the probes and every notebook (what `make lint` runs)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing_in_code_or_notebooks():
    paths = ["tlcourse", "tlcourse_keys", "tests", "solutions", "lessons", "probes"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
