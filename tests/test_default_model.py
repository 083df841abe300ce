"""Where the default model is found: $FACTSIFT_MODEL, inside an installed wheel, or in a source checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

import factsift.model
from factsift.model import DEFAULT_MODEL_NAME, MODEL_ENV_VAR, ModelLoadError, default_model_path

REPO_MODEL = Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME


def test_environment_variable_wins(tiny_model_dir, monkeypatch):
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    assert default_model_path() == tiny_model_dir


def test_the_model_inside_an_installed_package_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    package = tmp_path / "site-packages" / "factsift"
    (package / "models" / DEFAULT_MODEL_NAME).mkdir(parents=True)
    monkeypatch.setattr(factsift.model, "__file__", str(package / "model.py"))
    assert default_model_path() == package / "models" / DEFAULT_MODEL_NAME


def test_a_missing_default_model_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.setattr(factsift.model, "__file__", str(tmp_path / "a" / "b" / "factsift" / "model.py"))
    with pytest.raises(ModelLoadError, match=f"{MODEL_ENV_VAR}") as error:
        default_model_path()
    assert str(tmp_path / "a" / "b" / "factsift" / "models" / DEFAULT_MODEL_NAME) in str(error.value)


def test_source_checkout_model_is_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_model_path().resolve() == REPO_MODEL.resolve()
