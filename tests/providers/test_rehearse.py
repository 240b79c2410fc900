"""Rehearsal on all three clouds (docs/rehearse.md).

The "live" cloud of each cloud is itself an emulator (moto server behind a counting proxy, the
GCP and Azure emulators); the rehearsal copy is a separate emulator the rehearsal starts. Writes
are counted where they land on the live side: a rehearsal writes nothing there, and a rejection
the copy makes stops the apply before any live write.
"""

from __future__ import annotations

import json
import re
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import ClusterConfig, load_config
from portsync.rehearse import CloudCopy, rehearse

from .clouds import AZ_RG, AZ_SUB, GCP_PROJECT, Cloud

runner = CliRunner()

#: Flows that must never break: the foreign ssh rule on the workers carries the first; the API
#: server rule from the first "all" range, which the plan adds, opens the second.
LIFELINES = [
    {"name": "bastion -> ssh", "from": "cidr:10.9.0.0/16", "to": "worker", "port": 22},
    {"name": "ci -> api", "from": "cidr:203.0.113.0/24", "to": "control-plane", "port": 6443},
]

#: A rule set with more rules than EC2 allows per group (60): portsync's own check is raised
#: (rules_per_group: 200, as after asking for a higher quota) but the cloud still enforces 60.
MANY = [
    {"role": "control-plane", "protocol": "tcp", "ports": 30000 + i, "peer": "any"}
    for i in range(40)
]


def _schema() -> dict[str, Any]:
    text = resources.files("portsync").joinpath("schemas", "rehearsal.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_the_rehearsal_schema_docs_copy_equals_the_package_copy() -> None:
    docs = Path(__file__).parents[2] / "docs" / "schemas" / "rehearsal.schema.json"
    assert json.loads(docs.read_text(encoding="utf-8")) == _schema()


def _reject_on_copy(cluster: ClusterConfig, copy: CloudCopy) -> None:
    """Make the copy refuse the plan's writes, as a quota or a validation would."""
    if cluster.provider == "gcp":
        copy.emulator.firewall_quota = 1  # the copy already holds the foreign firewall
    elif cluster.provider == "azure":
        copy.emulator.inject("operation_failed", route="nsg.put", times=100)
    else:
        raise AssertionError(f"no injection for {cluster.provider}")


def test_a_rehearsal_writes_nothing_live_and_the_real_apply_then_converges(cloud: Cloud) -> None:
    config = cloud.write_config(lifelines=LIFELINES)
    before = cloud.snapshot()
    result = rehearse(load_config(config))

    assert result.ok, result.problems
    assert cloud.writes() == 0
    assert cloud.snapshot() == before
    totals = result.totals()
    assert totals["writes"] > 0
    assert totals["targets"] == 2
    # The foreign ssh rule, counted as the plan counts unmanaged rules (AWS's default egress
    # is checked but, as in the plan, not counted).
    assert totals["unmanaged"] == sum(len(g.unmanaged) for g in result.plan.groups) == 1
    assert totals["lifelines"] == 1  # bastion -> ssh; ci -> api is opened, not held
    summary = result.summary()
    assert re.fullmatch(
        rf"rehearsed {totals['writes']} writes on a copy of 2 targets in \d+\.\d s: converged, "
        rf"{totals['unmanaged']} unmanaged rules? untouched, 1 lifeline held",
        summary,
    ), summary
    doc = result.to_dict()
    assert doc["ok"] is True and doc["converged"] is True
    assert doc["clusters"][0]["changes"] == len(result.plan.changes)

    # The rehearsed plan is the one applied for real; it converges.
    api.apply(load_config(config), saved=result.plan)
    assert cloud.writes() > 0
    assert api.plan(load_config(config)).is_empty()


def test_a_rejection_on_the_copy_stops_before_any_live_write(cloud: Cloud) -> None:
    if cloud.name == "aws":
        cloud.cluster = {**cloud.cluster, "rules_per_group": 200}
        config = cloud.write_config(extra_rules=MANY)
        hook = None
    else:
        config = cloud.write_config()
        hook = _reject_on_copy
    before = cloud.snapshot()
    result = rehearse(load_config(config), on_copy=hook)

    assert not result.ok
    assert any("the copy refused" in p for p in result.problems), result.problems
    assert cloud.writes() == 0
    assert cloud.snapshot() == before


def test_apply_rehearse_refuses_and_rehearse_only_reports(aws_cloud: Cloud) -> None:
    # The CLI path is the same for every cloud; on AWS the rejection needs no injection hook.
    cloud = aws_cloud
    cloud.cluster = {**cloud.cluster, "rules_per_group": 200}
    config = cloud.write_config(extra_rules=MANY)
    before = cloud.snapshot()

    done = runner.invoke(app, ["--config", str(config), "apply", "--rehearse", "--auto-approve"])
    assert done.exit_code == 1, done.output
    assert "rehearsed" in done.output and "FAILED" in done.output
    assert "nothing was written" in done.output
    assert cloud.writes() == 0 and cloud.snapshot() == before

    only = runner.invoke(app, ["--config", str(config), "apply", "--rehearse-only"])
    assert only.exit_code == 1, only.output
    assert cloud.writes() == 0

    report = runner.invoke(app, ["--config", str(config), "rehearse", "-o", "json"])
    assert report.exit_code == 1, report.output
    doc = json.loads(report.stdout)
    jsonschema.Draft202012Validator(_schema()).validate(doc)
    assert doc["kind"] == "rehearsal" and doc["rehearsal"]["ok"] is False
    assert doc["rehearsal"]["clusters"][0]["refused_writes"] >= 1
    assert cloud.writes() == 0

    # Within the quota the same commands pass, and apply --rehearse then writes.
    config = cloud.write_config(lifelines=LIFELINES)
    only = runner.invoke(app, ["--config", str(config), "apply", "--rehearse-only"])
    assert only.exit_code == 0, only.output
    assert cloud.writes() == 0
    assert re.search(
        r"rehearsed \d+ writes on a copy of 2 targets in \d+\.\d s: converged", only.output
    )
    done = runner.invoke(app, ["--config", str(config), "apply", "--rehearse", "--auto-approve"])
    assert done.exit_code == 0, done.output
    assert cloud.writes() > 0
    assert api.plan(load_config(config)).is_empty()


def _drop_ssh_on_copy(cluster: ClusterConfig, copy: CloudCopy) -> None:
    """Remove the foreign ssh rule from the copy, as a racing writer would: after the
    rehearsal read the copy, before the first write."""
    if cluster.provider == "aws":
        import boto3

        ec2 = boto3.client(
            "ec2",
            region_name="eu-west-1",
            endpoint_url=copy.emulator.url,
            aws_access_key_id="rehearse",
            aws_secret_access_key="rehearse",
        )
        worker = cluster.model_dump()["roles"]["worker"]["security_group"]
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["worker"]}]
        )
        (group,) = groups["SecurityGroups"]
        assert group["GroupId"] != worker  # the copy's own id
        ec2.revoke_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "10.9.0.0/16"}],
                }
            ],
        )
    elif cluster.provider == "gcp":
        request = urllib.request.Request(
            f"{copy.emulator.url}/compute/v1/projects/{GCP_PROJECT}/global/firewalls/allow-ssh",
            method="DELETE",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
    else:
        copy.emulator.seed_nsg(AZ_SUB, AZ_RG, "node-nsg", rules=[])


def test_a_lifeline_cut_on_the_copy_is_named_with_its_write(cloud: Cloud) -> None:
    config = cloud.write_config(lifelines=LIFELINES)
    result = rehearse(load_config(config), on_copy=_drop_ssh_on_copy)

    assert not result.ok
    live_worker = {"aws": None, "gcp": "k8s-node", "azure": "node-nsg"}[cloud.name]
    cut = [p for p in result.problems if "lifeline 'bastion -> ssh' was cut on" in p]
    assert len(cut) == 1, result.problems
    # Said once: the copy's apply stops on the same cut, and its message (which names the
    # copy's targets) is not repeated beside the rehearsal's own.
    assert sum("bastion -> ssh" in p for p in result.problems) == 1, result.problems
    assert re.search(r"after write 1 of \d+$", cut[0]), cut[0]
    if live_worker is None:  # AWS: named by the live group id, never the copy's
        assert cloud.roles["worker"]["security_group"] in cut[0]
    else:
        assert live_worker in cut[0]
    assert any("unmanaged rule" in p for p in result.problems), result.problems
    assert cloud.writes() == 0
