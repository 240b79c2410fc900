"""The JSON Schemas of ``plan --output json`` and ``audit --output json`` hold for real outputs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from portsync.cli import app

from .conftest import REPO, AwsWorld, open_to
from .test_markdown import _drift_plan

runner = CliRunner()


def _schema(name: str) -> dict[str, Any]:
    text = (
        resources.files("portsync")
        .joinpath("schemas", f"{name}.schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _validate(name: str, data: Any) -> None:
    jsonschema.Draft202012Validator(_schema(name)).validate(data)


@pytest.mark.parametrize("name", ["plan", "audit", "error"])
def test_schema_docs_copy_equals_package_copy(name: str) -> None:
    docs = REPO / "docs" / "schemas" / f"{name}.schema.json"
    assert json.loads(docs.read_text(encoding="utf-8")) == _schema(name)


def test_plan_schema_hand_made_plan_with_every_action_valid() -> None:
    _validate("plan", _drift_plan().to_dict())


def test_plan_schema_rejects_unknown_action() -> None:
    data = _drift_plan().to_dict()
    data["changes"][0]["action"] = "replace"
    with pytest.raises(jsonschema.ValidationError):
        _validate("plan", data)


def test_cli_plan_and_audit_json_outputs_match_schemas(aws_world: AwsWorld, tmp_path: Path) -> None:
    cfg = str(aws_world.config_path)
    open_to(aws_world, aws_world.cp, "tcp", (2379, 2380), "0.0.0.0/0")
    open_to(aws_world, aws_world.worker, "all", None, "10.0.0.0/8")
    saved = tmp_path / "plan.json"
    plan = runner.invoke(app, ["--config", cfg, "plan", "-o", "json", "--out", str(saved)])
    assert plan.exit_code == 0, plan.output
    _validate("plan", json.loads(plan.stdout))
    _validate("plan", json.loads(saved.read_text(encoding="utf-8")))
    audit = runner.invoke(app, ["--config", cfg, "audit", "-o", "json", "--fail-on", "info"])
    assert audit.exit_code == 0, audit.output
    data = json.loads(audit.stdout)
    _validate("audit", data)
    assert {f["id"] for f in data["findings"]} == {"PS-EXPOSED-ETCD", "PS-UNDECLARED-PEER"}


@pytest.mark.parametrize(
    "module",
    ["audit", "explain", "fleet", "logs", "render", "render.sarif"],
)
def test_module_public_api_names_resolve(module: str) -> None:
    import importlib

    mod = importlib.import_module(f"portsync.{module}")  # ruff (RUF022) keeps __all__ sorted
    assert len(set(mod.__all__)) == len(mod.__all__)
    assert [name for name in mod.__all__ if not hasattr(mod, name)] == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["plan", "--cluster", "nope", "-o", "json"], "nope"),
        (["audit", "--cluster", "nope", "-o", "json"], "nope"),
        (["show", "missing-plan.json", "-o", "json"], "missing-plan.json"),
    ],
)
def test_a_failed_json_command_writes_an_error_document_not_an_empty_file(
    aws_world: AwsWorld, args: list[str], named: str
) -> None:
    result = runner.invoke(app, ["--config", str(aws_world.config_path), *args])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    _validate("error", document)
    assert document["error"]["kind"].endswith("Error")
    assert named in document["error"]["message"]
