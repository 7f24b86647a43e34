"""Where the data files live, whether we run from a checkout or from an installed wheel.

``prompts/`` and ``evals/`` sit at the top of the repository so they are easy to read and review; the wheel
carries copies inside the package under ``pmcomm_llm/_data/`` (see ``pyproject.toml``). This module is the
one place that knows both layouts.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

import yaml

from pmcomm_llm.core.errors import PromptError

M = TypeVar("M", bound="BaseModel")

__all__ = ["data_dir", "load_model", "load_yaml", "content_hash"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # pmcomm_llm/


@cache
def data_dir(name: str) -> Path:
    """The directory holding the ``prompts`` or ``evals`` data, installed copy first."""
    installed = resources.files("pmcomm_llm").joinpath("_data", name)
    if installed.is_dir():
        return Path(str(installed))
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise PromptError(f"data directory {name!r} not found in the package or next to it; reinstall pmcomm-llm")


@cache
def load_yaml(area: str, relative: str) -> Any:
    """Parse one YAML (or JSON) data file, with an error that names the file."""
    path = data_dir(area) / relative
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"missing data file {area}/{relative}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PromptError(f"{area}/{relative} is not valid YAML: {exc}") from None


def load_model(area: str, relative: str, model: type[M]) -> M:
    """A data file validated by ``model``; a malformed one is a :class:`PromptError` naming the file and each
    problem with its path."""
    from pydantic import ValidationError

    try:
        return model.model_validate(load_yaml(area, relative))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise PromptError(f"{area}/{relative} is invalid: {problems}") from None


def content_hash(area: str, relatives: list[str]) -> str:
    """A short, stable hash of the named files' bytes: the version of a prompt set."""
    digest = hashlib.sha256()
    root = data_dir(area)
    for rel in sorted(relatives):
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update((root / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]
