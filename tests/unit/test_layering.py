"""The layering of docs/architecture.md holds: cli -> ranker -> indexer -> core, the directions inside ranker
(import-linter's contracts in pyproject.toml), and other packages use a sub-package only through its public surface
(``__init__.py``'s ``__all__``)."""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.paths import ROOT

PRODUCTION = ("cli", "core", "indexer", "ranker")
#: Sub-packages whose modules are private to them: others import the names of their ``__all__`` from the package.
SURFACES = ("ranker.feedback", "ranker.model", "ranker.training", "ranker.finetune", "ranker.evaluation",
            "ranker.service", "ranker.experiments", "indexer.enrichment")  # fmt: skip
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    assert LINT_IMPORTS, "import-linter is not installed (scripts/setup installs the test extras)"
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}, timeout=300)  # fmt: skip


def test_the_import_contracts_are_kept():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contracts(tmp_path):
    """The same contracts on a tiny tree where ``ranker.model`` imports ``ranker.service`` and ``core`` imports
    ``indexer``: both are reported."""
    subs = ("service", "evaluation", "training", "finetune", "experiments", "model", "feedback")
    for package in ("cli", "core", "indexer", "ranker", *(f"ranker/{s}" for s in subs)):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "ranker" / "metrics.py").write_text("")
    (tmp_path / "ranker" / "model" / "scoring.py").write_text("def f():\n    import ranker.service\n")
    (tmp_path / "core" / "settings.py").write_text("import indexer\n")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (tmp_path / ".importlinter").write_text(_ini(config))
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert done.stdout.count("BROKEN") == 2, done.stdout
    assert "ranker.model.scoring -> ranker.service" in done.stdout and "core.settings -> indexer" in done.stdout


def _ini(config: dict) -> str:
    """import-linter's INI form of the pyproject section (the tiny tree has no pyproject of its own)."""
    lines = [
        "[importlinter]",
        f"root_packages =\n    {chr(10).join('    ' + p for p in config['root_packages']).strip()}",
    ]
    for n, contract in enumerate(config["contracts"]):
        lines.append(f"\n[importlinter:contract:{n}]")
        for key, value in contract.items():
            value = "\n" + "\n".join(f"    {v}" for v in value) if isinstance(value, list) else value
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in ``path``, inside functions too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
    return out


def test_other_packages_import_a_sub_package_only_through_its_surface():
    surfaces = {name: set(importlib.import_module(name).__all__) for name in SURFACES}
    wrong = []
    for top in PRODUCTION:
        for path in (ROOT / top).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for line, imported, names in _imports(path):
                for package, public in surfaces.items():
                    inside = module == package or module.startswith(package + ".")
                    if inside or not (imported == package or imported.startswith(package + ".")):
                        continue
                    if imported != package:
                        wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {imported} (use {package})")
                    wrong += [f"{path.relative_to(ROOT)}:{line}: {n} is not in {package}.__all__"
                              for n in names if n not in public]  # fmt: skip
    assert wrong == []


@pytest.mark.parametrize("package", SURFACES)
def test_every_public_name_exists(package):
    module = importlib.import_module(package)
    assert module.__doc__ and module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
