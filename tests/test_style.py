"""The code stays ruff-clean (the rules live in pyproject.toml) and its layers import only downwards."""

import ast
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
    code = "import tessera.cli, tessera.eval.scorer, tessera.world.export"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def _imports(path: Path) -> set[str]:
    """The modules a file imports (absolute imports, anywhere in the file)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _importers(package: str, forbidden: str) -> list[str]:
    files = sorted((ROOT / package.replace(".", "/")).glob("**/*.py"))
    if not files:  # a module, not a package
        files = [ROOT / (package.replace(".", "/") + ".py")]
    return [
        f"{f.relative_to(ROOT)} imports {n}"
        for f in files
        for n in sorted(_imports(f))
        if n == forbidden or n.startswith(forbidden + ".")
    ]


def test_layers_import_only_downwards():
    rules = [
        ("tessera.world", "tessera.eval"),  # eval reads the world, never the other way
        ("tessera.data", "tessera.eval"),
        ("tessera.pipeline", "tessera.data.dataset"),  # inference needs no training data
        ("tessera.conditioning", "tessera.data.dataset"),
        ("tessera.conditioning", "tessera.train"),
        ("tessera.config", "tessera.presets"),  # presets build configs; configs know no presets
        ("tessera.models", "tessera.train"),
        ("tessera.diffusion", "tessera.models"),  # diffusion knows a model only as a callable
    ]
    broken = [line for package, forbidden in rules for line in _importers(package, forbidden)]
    assert not broken, "\n".join(broken)


def test_only_train_uses_torch_distributed():
    outside = ("models", "diffusion", "data", "world", "eval", "pipeline", "conditioning", "serve")
    users = [line for part in outside for line in _importers(f"tessera.{part}", "torch.distributed")]
    assert not users, "\n".join(users)
