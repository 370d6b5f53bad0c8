"""The README's state diagram is the code's own."""

from pathlib import Path

from dispatch.workflow import mermaid


def test_readme_diagram_is_generated_from_the_workflow() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- diagram:start -->")[1].split("<!-- diagram:end -->")[0]
    assert block.strip() == f"```mermaid\n{mermaid()}\n```", "run `pingan diagram` and paste it"


def test_readme_test_command_is_the_one_ci_runs() -> None:
    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    command = "ruff check . && ruff format --check . && mypy && pytest -q"
    assert command in readme and command in ci
