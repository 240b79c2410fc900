"""The CI recipes in docs/ci/ parse, have the structure docs/ci.md promises, and only call
portsync subcommands and options that exist."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest
import typer
import yaml

from portsync.cli import app
from portsync.config import parse_config

from .conftest import REPO

CI = REPO / "docs" / "ci"
_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>", "(", ")"}


def _load(name: str) -> list[Any]:
    return list(yaml.safe_load_all((CI / name).read_text(encoding="utf-8")))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _portsync_calls(text: str) -> list[list[str]]:
    """Every ``portsync …`` command line in a shell snippet, as tokens up to a shell operator."""
    calls = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            continue
        for i, token in enumerate(tokens):
            if token == "portsync" and (i == 0 or tokens[i - 1] in _OPERATORS | {"exec"}):
                call = []
                for word in tokens[i + 1 :]:
                    if word in _OPERATORS:
                        break
                    call.append(word)
                if call:  # a bare "portsync" is a name (workflow, namespace), not a command
                    calls.append(call)
    return calls


def _options(command: Any) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for param in command.params:
        for name in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            names[name] = param
    return names


def _choices(param: Any) -> set[str]:
    """The values an enum-typed option accepts (typer and classic click parameters)."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return {str(member.value) for member in annotation}
    return {
        str(getattr(c, "value", c)) for c in getattr(getattr(param, "type", None), "choices", ())
    }


def _check_call(call: list[str]) -> str:
    """Assert every option of ``call`` exists where it is used and every literal choice value
    is one it accepts; return the subcommand."""
    root: Any = typer.main.get_command(app)
    known = _options(root)
    subcommand = None
    words = iter(call)
    for word in words:
        if not word.startswith("-"):
            if subcommand is None and word in root.commands:
                subcommand = word
                known = _options(root.commands[word])
            continue  # a positional argument (a saved plan, a source)
        name, _, inline = word.partition("=")
        assert name in known, f"portsync {' '.join(call)}: {name} is not an option here"
        param = known[name]
        if getattr(param, "is_flag", False):
            continue
        value = inline or next(words, "")
        allowed = _choices(param)
        if allowed and "$" not in value:
            assert value in allowed, f"portsync {' '.join(call)}: {name} {value!r} not in {allowed}"
    assert subcommand is not None, f"portsync {' '.join(call)}: no subcommand"
    return subcommand


def _calls(document: Any) -> list[list[str]]:
    return [call for text in _strings(document) for call in _portsync_calls(text)]


@pytest.mark.parametrize(
    "name", ["github-actions.yml", "gitlab-ci.yml", "cronjob.yaml", "cronjob-indexed.yaml"]
)
def test_ci_recipe_commands_exist_with_their_options(name: str) -> None:
    calls = [call for doc in _load(name) for call in _calls(doc)]
    assert calls, f"{name} runs no portsync command"
    used = {_check_call(call) for call in calls}
    assert "apply" in used


def test_ci_github_actions_nightly_plan_sarif_gated_apply() -> None:
    (flow,) = _load("github-actions.yml")
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"]
    assert flow["concurrency"]["group"] and flow["concurrency"]["cancel-in-progress"] is False
    assert flow["permissions"] == {"contents": "read"}
    plan, apply = flow["jobs"]["plan"], flow["jobs"]["apply"]
    assert plan["permissions"]["id-token"] == "write"
    assert plan["permissions"]["security-events"] == "write"
    uses = {step.get("uses", "").split("@")[0]: step for step in plan["steps"]}
    assert "role-to-assume" in uses["aws-actions/configure-aws-credentials"]["with"]
    assert "workload_identity_provider" in uses["google-github-actions/auth"]["with"]
    assert "client-id" in uses["azure/login"]["with"]
    assert "github/codeql-action/upload-sarif" in uses
    script = "\n".join(step.get("run", "") for step in plan["steps"])
    assert "--detailed-exitcode" in script and "$GITHUB_STEP_SUMMARY" in script
    assert "2)" in script  # exit 2 (drift) is handled, not treated as a failure
    shards = plan["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1))
    assert apply["environment"] == "production"
    assert "plan" in apply["needs"]
    apply_calls = [c for step in apply["steps"] for c in _portsync_calls(step.get("run", ""))]
    assert any(c[c.index("apply") + 1].startswith("plan-") for c in apply_calls)
    assert any(s.get("uses", "").startswith("actions/download-artifact") for s in apply["steps"])


def test_ci_gitlab_plan_allows_exit_2_and_apply_is_manual_and_protected() -> None:
    (pipeline,) = _load("gitlab-ci.yml")
    plan, apply = pipeline["plan"], pipeline["apply"]
    assert plan["allow_failure"]["exit_codes"] == [2]
    assert any("schedule" in rule["if"] for rule in plan["rules"])
    assert set(plan["id_tokens"]) == {"AWS_ID_TOKEN", "GCP_ID_TOKEN", "AZURE_ID_TOKEN"}
    assert plan["parallel"] == apply["parallel"]
    assert apply["environment"]["name"] == "production"
    assert apply["resource_group"]
    assert apply["rules"][0]["when"] == "manual"
    plan_line = next(line for line in plan["script"] if "--detailed-exitcode" in line)
    assert "|| code=$?" in plan_line
    assert plan["script"][-1] == 'exit "$code"'  # the plan's exit code is the job's


def test_ci_cronjob_manifest_wires_serviceaccount_and_config() -> None:
    docs = {doc["kind"]: doc for doc in _load("cronjob.yaml")}
    assert {"ServiceAccount", "ConfigMap", "CronJob"} <= set(docs)
    cron = docs["CronJob"]["spec"]
    assert cron["schedule"] and cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env["PORTSYNC_CONFIG"] == f"{mount['mountPath']}/portsync.yaml"
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    parse_config(docs["ConfigMap"]["data"]["portsync.yaml"])  # a valid portsync config
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def _cloud_reads(calls: list[list[str]]) -> list[str]:
    """The subcommands among ``calls`` that read the cloud (show renders a saved plan offline)."""
    return [_check_call(call) for call in calls if _check_call(call) in {"plan", "audit"}]


def test_ci_github_shard_reads_the_cloud_once_for_plan_and_once_for_audit() -> None:
    (flow,) = _load("github-actions.yml")
    plan = flow["jobs"]["plan"]
    assert plan["permissions"]["actions"] == "read"  # SARIF upload in private repositories
    calls = [c for step in plan["steps"] for c in _portsync_calls(step.get("run", ""))]
    assert sorted(_cloud_reads(calls)) == ["audit", "plan"]
    show = next(c for c in calls if _check_call(c) == "show")
    assert show[show.index("show") + 1] == "plan-${{ matrix.shard }}.json"
    assert "sarif" in show
    audit = next(c for c in calls if _check_call(c) == "audit")
    assert "--summary" in audit and "sarif" in audit


def test_ci_gitlab_shard_reads_the_cloud_once_for_plan_and_once_for_audit() -> None:
    (pipeline,) = _load("gitlab-ci.yml")
    calls = [c for line in pipeline["plan"]["script"] for c in _portsync_calls(line)]
    assert sorted(_cloud_reads(calls)) == ["audit", "plan"]
    assert any(_check_call(c) == "show" and "plan-$CI_NODE_INDEX.json" in c for c in calls)


def test_ci_cronjob_audit_is_one_line_of_json() -> None:
    for name in ("cronjob.yaml", "cronjob-indexed.yaml"):
        calls = [c for doc in _load(name) for c in _calls(doc)]
        audit = next(c for c in calls if "audit" in c)
        assert "--compact" in audit[: audit.index("audit")], name


def test_ci_indexed_job_gives_each_pod_its_own_shard() -> None:
    docs = {doc["kind"]: doc for doc in _load("cronjob-indexed.yaml")}
    job = docs["CronJob"]["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    shards = job["completions"]
    assert job["parallelism"] == shards
    (container,) = job["template"]["spec"]["containers"]
    script = " ".join(container["args"])
    assert f'shard="$((JOB_COMPLETION_INDEX + 1))/{shards}"' in script
    calls = _calls(container["args"])
    assert {_check_call(c) for c in calls} == {"audit", "apply"}
    assert all(c[c.index("--shard") + 1] == "$shard" for c in calls)
