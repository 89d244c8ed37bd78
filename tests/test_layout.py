"""The packages' arrows point down: app -> eval -> infini, rag -> core. Read from the source, so a new
import that points up or sideways fails here."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAY_IMPORT = {  # package -> the project packages its modules may import
    "core": set(),
    "infini": {"core"},
    "rag": {"core"},
    "eval": {"core", "infini", "rag"},
    "app": {"core", "eval", "infini", "rag"},
}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_ones_below_it(package):
    modules = sorted((ROOT / package).glob("*.py"))
    assert modules
    wrong = {path.name: sorted(project_imports(path) - MAY_IMPORT[package] - {package}) for path in modules}
    assert not {name: bad for name, bad in wrong.items() if bad}


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import torch\nfrom eval.tasks import Case\ndef f():\n    from app import logic\n")
    assert project_imports(module) == {"eval", "app"}
