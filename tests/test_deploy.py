"""The deployment kit says one thing: its settings agree with each other and with the measured peaks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _gigabytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)\s*([GM])i?", quantity).groups()
    return float(number) / (1024 if unit == "M" else 1)


def _measured_peaks() -> list[float]:
    """The per-lesson peaks the kit's README quotes (its table's GB columns)."""
    rows = re.findall(r"^\| \d [^|]+\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|$", (DEPLOY / "README.md").read_text(), re.M)
    assert len(rows) == 6, "the README's table has a row per lesson"
    return [float(x) for row in rows for x in row]


def test_the_memory_guarantee_covers_every_measured_peak():
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())["singleuser"]
    guarantee, limit = (_gigabytes(values["memory"][k]) for k in ("guarantee", "limit"))
    assert guarantee >= max(_measured_peaks()) + 0.1, "lesson peak plus JupyterLab's own 0.1 GB"
    assert limit >= guarantee
    assert re.search(
        rf"limits\.memory {values['memory']['guarantee']}\b", (DEPLOY / "tljh" / "install-course.sh").read_text()
    )


def test_zero_to_jupyterhub_pins_the_image_pulls_the_edition_and_mounts_the_data_read_only():
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())["singleuser"]
    assert values["image"]["tag"] not in ("", "latest")
    assert values["lifecycleHooks"]["postStart"]["exec"]["command"][0] == "gitpuller"
    mounts = {m["mountPath"]: m for m in values["storage"]["extraVolumeMounts"]}
    assert mounts[values["extraEnv"]["TLCOURSE_DATA"]]["readOnly"] is True


def test_the_image_and_the_recipe_install_the_edition_not_the_checkout():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY edition/requirements.txt" in dockerfile and '! python -c "import tlcourse_keys"' in dockerfile
    assert "ENV TLCOURSE_DATA=/srv/data" in dockerfile
    script = DEPLOY / "tljh" / "install-course.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)  # it parses
    assert 'pip" install --no-deps "$EDITION"' in script.read_text()
