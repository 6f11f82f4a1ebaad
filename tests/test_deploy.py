"""The workflow used as a Snakemake module fetched from a git host, the way snakedeploy deploys
it: a Snakefile with `module ... github(...)`, the workflow's config/ copied beside it, and the
package installed (not editable: no checkout anywhere). The host is a local bare repository (git's
url.<base>.insteadOf sends Snakemake's https clone there), built from this checkout's files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from workflow_scripts.core.envs import PACKAGE, requirement_lines

from conftest import ROOT, copy_workflow, jobs_of, snakemake

HOST = "git.test"  # never resolved: git rewrites the URL to the bare repository
DEPLOYED = f"""configfile: "config/config.yaml"


module xai:
    snakefile:
        github("xai/xai-pipeline", path="Snakefile", tag="v0", host="{HOST}")
    config:
        config


use rule * from xai as xai_*
"""


def _git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _installed_venv(tmp_path: Path, src: str, name="venv", env=None) -> Path:
    """A fresh environment that sees this one's packages (a .pth file) with the workflow's
    package installed from `src`, a path or a pip spec (a wheel build: only what the package
    ships)."""
    venv = tmp_path / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin/python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    proc = subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-build-isolation", str(src)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    package = Path(purelib) / "workflow_scripts"
    assert package.is_dir() and not (package.parent / "config").exists()
    return python


@pytest.mark.workflow
def test_a_github_module_deployment_builds_the_same_dag_and_runs_jobs(tmp_path):
    src = copy_workflow(tmp_path / "src")
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    _git("init", "-q", cwd=src)
    _git("add", "-A", cwd=src)
    _git("commit", "-qm", "v0", cwd=src)
    _git("tag", "v0", cwd=src)
    bare = tmp_path / "host"
    _git("clone", "-q", "--bare", str(src), str(bare / "xai/xai-pipeline"), cwd=tmp_path)

    python = _installed_venv(tmp_path, src)
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "Snakefile").write_text(DEPLOYED)
    copy_workflow(tmp_path / "copy")  # snakedeploy copies config/ only
    os.rename(tmp_path / "copy/config", deploy / "config")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.{bare.as_uri()}/.insteadOf",
        GIT_CONFIG_VALUE_0=f"https://{HOST}/",
    )

    def deployed(*args):
        proc = subprocess.run(
            [str(python), "-m", "snakemake", *args],
            cwd=deploy,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    # the same jobs as the checkout's own default DAG (rules renamed xai_*, plus nothing else)
    dry = jobs_of(deployed("-n", "--cores", "2"))
    own = jobs_of(snakemake("-n", "--cores", "2").stdout)
    assert {k.removeprefix("xai_"): n for k, n in dry.items()} == own
    # step scripts run from Snakemake's copy of the module, importing the installed package
    out = deployed("--cores", "2", "--until", "xai_observed_image")
    observed = sorted((deploy / "results/offline/assets/observed").glob("*.npz"))
    assert len(observed) == own["observed_image"], out[-3000:]
    # nothing of the workflow beside the deployment's own Snakefile and config/
    assert sorted(p.name for p in deploy.iterdir() if not p.name.startswith(".")) == [
        "Snakefile",
        "config",
        "results",
    ]

    # the rules' conda env: the fetched envs/xai.yaml cannot reach ../requirements.txt, so the
    # module writes one naming the requirements and the package at the deployed tag
    (generated,) = (deploy / ".snakemake/xai-envs").glob("*.yaml")
    pip = yaml.safe_load(generated.read_text())["dependencies"][-1]["pip"]
    assert pip == [*requirement_lines((ROOT / "requirements.txt").read_text()), pip[-1]]
    assert pip[-1] == f"xai-pipeline @ git+https://{HOST}/xai/xai-pipeline@v0"
    # that spec installs the tagged package (git clones through the same rewrite)
    from_git = _installed_venv(tmp_path, pip[-1], name="from_git", env=env)
    shipped = subprocess.run(
        [str(from_git), "-c", "import workflow_scripts.core.envs as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "from_git" in shipped


def test_the_checkouts_env_file_installs_its_requirements_and_package():
    """Conda runs pip in envs/ with the env file's pip lines: from there they must name the
    checkout's requirements.txt (what ./xai installs) and the checkout's own package."""
    pip = yaml.safe_load((ROOT / "envs/xai.yaml").read_text())["dependencies"][-1]["pip"]
    here = ROOT / "envs"
    reqs = [(here / line.split()[1]).resolve() for line in pip if line.startswith("-r ")]
    package = [(here / line.split()[1]).resolve() for line in pip if line.startswith("-e ")]
    assert reqs == [ROOT / "requirements.txt"]
    assert package == [ROOT]
    assert f'name = "{PACKAGE}"' in (ROOT / "pyproject.toml").read_text()
