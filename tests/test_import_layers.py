"""No module imports one in a layer above its own (docs/architecture.md, "Layers").

Every import counts, lazy ones inside functions included: a lazy import up the layers is
still a dependency, it only hides until the code runs.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "cyclegan"
# Bottom to top. A name is a module or a package (all of its modules), under cyclegan; the
# longest name that matches a module decides its layer.
LAYERS = (
    # shared and torch-free
    ("_C", "errors", "protowire", "hostmem", "progress", "stopping", "runlayout", "fileio",
     "workscale", "contract", "images", "seasons", "info", "flags", "grids"),
    # torch building blocks
    ("ops", "opcall", "layers", "models", "backbone", "prior", "projected", "data", "checkpoint",
     "evaluation.metrics"),
    # training, and model files from checkpoints
    ("train", "export.to_onnx", "export.convert"),
    # inference
    ("infer", "translator"),
    # what runs on top of inference or training
    ("evaluation", "export"),
    # the commands
    ("cli", "train.__main__"),
)

# The package's own __init__ is in the bottom layer (every module may read __version__), yet
# re-exports the public API on first use (its __getattr__): these imports only.
PUBLIC = {"translator"}


def layer_of(module: str) -> int | None:
    """The layer of a dotted module name under cyclegan ("" is the package itself)."""
    best, layer = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, layer = len(name), i
    return 0 if module == "" else layer


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = PACKAGE.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or base.is_dir() or name == "_C"


def imports(path: Path) -> set[str]:
    """The cyclegan modules `path` imports, lazily or not, as names under cyclegan."""
    own = _module_name(path).split(".") if _module_name(path) else []
    package = own if path.name == "__init__.py" else own[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "cyclegan")
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = ".".join(["cyclegan", *package[:len(package) - node.level + 1]])
            source = base + ("." + node.module if node.module else "")
        elif (node.module or "").split(".")[0] == "cyclegan":
            source = node.module
        else:
            continue
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            found.add(sub if _is_module(sub.partition(".")[2]) else source)
    return {name.partition(".")[2] for name in found}


def graph() -> dict[str, set[str]]:
    return {_module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))
            if "__pycache__" not in p.parts}


def violations(edges: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(edges.items()):
        if layer_of(module) is None:
            problems.append(f"{module or 'cyclegan'} is in no layer: add it to LAYERS")
            continue
        for target in sorted(targets):
            if module == "" and target in PUBLIC:
                continue
            if layer_of(target) is not None and layer_of(target) > layer_of(module):
                problems.append(f"{module} (layer {layer_of(module)}) imports {target} "
                                f"(layer {layer_of(target)})")
    return problems


def test_no_module_imports_a_higher_layer():
    assert violations(graph()) == []


def test_the_graph_sees_plain_relative_and_lazy_imports():
    edges = graph()
    assert "ops" in edges["layers"]  # lazy, inside functions
    assert "_C" in edges["ops"]  # from . import _C
    assert {"export.to_onnx", "checkpoint"} <= edges["infer.runtime"]
    assert "export.int8_graph" in edges["export.quantize"]  # from cyclegan.export import ...


@pytest.mark.parametrize(("module", "target"), [
    ("checkpoint", "train.config"),  # the lazy import issue 29 removed
    ("infer.runtime", "export.quantize"),
    ("train.health", "evaluation.evaluate"),
    ("images", "fileio"),  # the same layer: allowed
])
def test_an_upward_import_is_reported(module, target):
    edges = graph()
    edges[module] = edges[module] | {target}
    problems = violations(edges)
    if layer_of(target) == layer_of(module):
        assert problems == []
    else:
        assert problems == [f"{module} (layer {layer_of(module)}) imports {target} "
                            f"(layer {layer_of(target)})"]


def test_the_package_may_reexport_only_the_public_api():
    assert violations({"": {"translator"}, "translator": set()}) == []
    assert violations({"": {"evaluation.evaluate"}, "evaluation.evaluate": set()}) == [
        " (layer 0) imports evaluation.evaluate (layer 4)"]


def test_a_module_in_no_layer_is_reported():
    assert violations({"newmodule": set()}) == ["newmodule is in no layer: add it to LAYERS"]
