"""The notebooks in notebooks/ run: each is executed headless by papermill on a small company in a temporary workspace.

The committed notebooks are also checked without running them: the .ipynb carries no outputs and holds the same
cells as its paired .py (jupytext percent format: the .py is what reviewers read, the .ipynb what Jupyter opens).
The three executions share one workspace in file order (01 generates, 02 trains, 03 reuses 02's model), about a
minute together; each notebook also runs on its own, generating and training what it lacks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01-explore-signals", "02-train-and-evaluate", "03-explain-an-account")
# The sizes of tests/conftest.py small_config: every split and label horizon fits, training takes seconds.
SMALL = {"seed": 11, "accounts": 300, "leads": 4000, "months": 40, "trials": 2, "backtest_months": 1, "threads": 1}


def _cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in notebook.cells]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs_and_matches_its_script(name):
    import jupytext

    ipynb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    dirty = [i for i, c in enumerate(ipynb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{name}.ipynb has outputs in cells {dirty}: strip them (.venv/bin/jupytext --to ipynb {name}.py)"
    script = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert _cells(ipynb) == _cells(script), (
        f"{name}.ipynb and {name}.py differ: edit the .py, then .venv/bin/jupytext --to ipynb notebooks/{name}.py")
    first = ipynb.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", []), "papermill needs it first"
    assert "workspace" in first.source


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> Iterator[str]:
    """"python3" when it runs this interpreter (ipykernel's own kernelspec in the venv); else one made for it.

    pip installs ipykernel's kernelspec into <venv>/share/jupyter/kernels/python3 with the command "python", which
    jupyter_client replaces by the interpreter that starts the kernel. A "python3" spec of the user's or the system's
    pointing at another interpreter would run the notebooks without this project's packages: then a spec for this
    interpreter is installed into a temporary Jupyter path, which comes first in the search.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        command = KernelSpecManager().get_kernel_spec("python3").argv[0]
        if command in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"} or (
                Path(command).absolute() == Path(sys.executable).absolute()):
            yield "python3"
            return
    except NoSuchKernel:
        pass
    prefix = tmp_path_factory.mktemp("jupyter")
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name",
                    "signalscore-tests"], check=True, capture_output=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        yield "signalscore-tests"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks") / "workspace"


def run(name: str, workspace: Path, kernel: str, out: Path, monkeypatch) -> nbformat.NotebookNode:
    """Execute one notebook with the small parameters it declares; papermill raises on the first failing cell."""
    import papermill

    # The kernel inherits the environment: a tracking URI exported by an earlier test's MLflow must not leak in.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    source = NOTEBOOKS / f"{name}.ipynb"
    declared = papermill.inspect_notebook(str(source))
    parameters = {k: v for k, v in {**SMALL, "workspace": str(workspace)}.items() if k in declared}
    executed = out / f"{name}.ipynb"
    papermill.execute_notebook(str(source), str(executed), parameters=parameters, kernel_name=kernel, cwd=str(out),
                               progress_bar=False, execution_timeout=600)
    return nbformat.read(executed, as_version=4)


def output_text(notebook: nbformat.NotebookNode, tag: str) -> str:
    """Everything the cells with `tag` printed or displayed (text, markdown, html)."""
    texts = []
    for cell in notebook.cells:
        if tag not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                texts.append(output.text)
            for kind in ("text/plain", "text/markdown", "text/html"):
                texts.append(output.get("data", {}).get(kind, ""))
    assert texts, f"no cell tagged {tag!r} produced output"
    return "\n".join(texts)


def images(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_explore_signals_runs(workspace, kernel_name, tmp_path, monkeypatch):
    notebook = run("01-explore-signals", workspace, kernel_name, tmp_path, monkeypatch)
    assert images(notebook) >= 9  # every signal family, the cohorts and the rates by segment are drawn
    assert (workspace / "data" / "_meta.json").exists()


@pytest.mark.slow
def test_train_and_evaluate_compares_models_and_answers_the_question(workspace, kernel_name, tmp_path, monkeypatch):
    notebook = run("02-train-and-evaluate", workspace, kernel_name, tmp_path, monkeypatch)
    comparison = output_text(notebook, "comparison")
    auc = {m: float(v) for m, v in re.findall(r"^(conversion|renewal): hold-out of .* ROC AUC (\d\.\d+)", comparison,
                                              re.M)}
    assert set(auc) == {"conversion", "renewal"} and all(0.5 < v <= 1 for v in auc.values()), comparison
    for scorer in ("LightGBM", "logistic regression", "scorecard", "oracle"):
        assert scorer in comparison
    table = output_text(notebook, "lead-vs-health")
    assert "lead-style" in table and "health model" in table and "churners in the riskiest 10%" in table
    answer = output_text(notebook, "answer")
    lead, health = (float(x) for x in re.search(r"lead-style ROC AUC (\d\.\d+) \| health model ROC AUC (\d\.\d+)",
                                                answer).groups())
    assert f"ROC AUC of {lead:.3f}" in answer and f"reaches {health:.3f}" in answer  # the prose uses the numbers
    assert health > lead  # the project's premise, on this small company too
    assert images(notebook) >= 5  # reliability (2), backtest (2), gains


@pytest.mark.slow
def test_explain_an_account_shows_score_reasons_and_changes(workspace, kernel_name, tmp_path, monkeypatch):
    notebook = run("03-explain-an-account", workspace, kernel_name, tmp_path, monkeypatch)
    reasons = output_text(notebook, "reasons")
    assert "▼" in reasons and "sentence" in reasons
    changes = output_text(notebook, "changes")
    assert "score change" in changes or "nothing to compare with" in changes
    terminal = output_text(notebook, "terminal")
    assert "From the baseline" in terminal and "Why" in terminal
    summed = "\n".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    residue = float(re.search(r"difference (\S+)\)", summed).group(1))
    assert residue < 1e-9  # baseline + points per group = score
    assert images(notebook) >= 4  # scores, waterfall, the top reason's history and its raw rows
