"""The code stays ruff-clean (the rules live in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "tessera", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_imports_without_optional_tools():
    code = "import tessera.cli, tessera.eval.scorer, tessera.data.world_export"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
