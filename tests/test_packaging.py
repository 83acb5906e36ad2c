"""One product: a plain `pip install .` (no extras) provides every module the product imports.

Checked without installing: each third-party module imported anywhere in `smart_app/` must come from a main
dependency or one of its own dependencies, never only from an extra (`dev`, `postgres`). The PostgreSQL driver is
the one optional piece; SQLAlchemy imports it, and without it a PostgreSQL URL is a one-line error
(tests/infra/test_migrations.py).
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _closure(names: list[str]) -> set[str]:
    """The distributions a plain install brings: the main requirements and theirs, without extras."""
    seen: set[str] = set()
    todo = [Requirement(n) for n in names]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for raw in requires:
            dependency = Requirement(raw)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                todo.append(dependency)
    return seen


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in (ROOT / "smart_app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in ("smart_app", "__future__")}


def test_every_imported_module_comes_with_a_plain_install() -> None:
    plain = _closure(PYPROJECT["project"]["dependencies"])
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module, ["(not installed)"])
        for module in _imported_top_level_modules()
        if not any(canonicalize_name(d) in plain for d in providers.get(module, []))
    }
    assert missing == {}, f"imported by smart_app but only in an extra (or nowhere): {missing}"


def test_service_is_not_an_extra_and_the_license_is_spdx() -> None:
    project = PYPROJECT["project"]
    # The product needs no extra; extras are the PostgreSQL driver and developer tools (tests, value-set rebuild).
    assert set(project["optional-dependencies"]) == {"dev", "postgres", "terminology"}
    assert project["license"] == "LicenseRef-Proprietary"  # PEP 639 string: setuptools no longer warns
    assert any(r.startswith("setuptools>=77") for r in PYPROJECT["build-system"]["requires"])


def test_migrations_ship_inside_the_package() -> None:
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["smart_app"]
    assert "storage/migrations/script.py.mako" in package_data
    versions = ROOT / "smart_app" / "storage" / "migrations" / "versions"
    assert (versions / "__init__.py").exists()  # a package, so setuptools ships the revisions
    assert sorted(p.name for p in versions.glob("r*.py"))[0] == "r0001_initial.py"
