"""A plain wheel (not only an editable install) carries prompts/ and evals/ and finds them at run time."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_prompt_and_eval_data_and_loads_it(tmp_path):
    from hatchling.builders.wheel import WheelBuilder

    wheel = Path(next(iter(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))))
    names = zipfile.ZipFile(wheel).namelist()
    assert "pmcomm_llm/_data/prompts/catalogue.yaml" in names
    assert "pmcomm_llm/_data/prompts/offline/zh-TW.yaml" in names
    assert "pmcomm_llm/_data/evals/lexicons/commitments.yaml" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import pmcomm_llm, json, sys; from pmcomm_llm.core.resources import data_dir; "
            "p = pmcomm_llm.load_prompts(); "
            "print(json.dumps([pmcomm_llm.__file__, str(data_dir('prompts')), str(data_dir('evals')), p.version]))")
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    import json

    module_file, prompts_dir, evals_dir, version = json.loads(out.stdout)
    assert module_file.startswith(str(site)) and prompts_dir.startswith(str(site)) and evals_dir.startswith(str(site))
    from pmcomm_llm import load_prompts

    assert version == load_prompts().version
