"""``benchmarks/criteria_eval.py`` (``make bench``) runs the 20-criterion set on the compiled CEL
runtime and checks each outcome against cel-python's interpreter before timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "criteria_eval.py"


def test_the_criteria_benchmark_runs_on_the_compiled_runtime_and_its_check_passes():
    # given the script on a short run
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then it names the runtime, its check passes and it prints the three rates
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("runtime: cel-expr-python ")
    assert "PASS: 16 conditions, outcomes equal to cel-python's" in lines
    assert any(line.endswith(" condition evaluations/s") for line in lines)
    assert any("set evaluations/s (" in line and "criteria/s)" in line for line in lines)
