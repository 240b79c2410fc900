"""Apply re-checks every lifeline after each write, against what it reads back (docs/lifelines.md).

On all three clouds: another writer shuts the bastion's ssh to the workers right after apply's
first write (on the cloud's side, before apply hears back). The plan kept the lifeline at every
step, so only the read back can see it; apply stops there, names the lifeline and the write, and
sends nothing more (counted where the writes land). A normal apply pays one listing per write on
a target with a lifeline to keep, and nothing without lifelines (counted at the endpoint).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.errors import LifelineCutDuringApply
from portsync.provider import Settings
from portsync.session import Session

from .clouds import Cloud

runner = CliRunner()

LIFELINES = [
    # Held today by the foreign ssh rule on the workers.
    {"name": "bastion -> ssh", "from": "cidr:10.9.0.0/16", "to": "worker", "port": 22},
    # Closed today; the plan opens it (the API server rule from the first "all" range).
    {"name": "ci -> api", "from": "cidr:203.0.113.0/24", "to": "control-plane", "port": 6443},
]
#: A rule on the workers only, so the second apply writes there and nowhere else.
EXTRA = [{"role": "worker", "protocol": "tcp", "ports": 9100, "peer": "cidr:10.7.0.0/16"}]
#: The same rule on another port: swapping one for the other is an addition and a removal.
SWAPPED = [{"role": "worker", "protocol": "tcp", "ports": 9101, "peer": "cidr:10.7.0.0/16"}]
WORKER = {"aws": None, "gcp": "k8s-node", "azure": "node-nsg"}


def _worker_label(cloud: Cloud) -> str:
    return WORKER[cloud.name] or str(cloud.roles["worker"]["security_group"])


def _watched_writes(cloud: Cloud, plan: api.Plan) -> int:
    """The plan's writes after which apply reads back: on AWS those on the worker's security
    group (the only one with a lifeline to keep); on GCP and Azure every write of the cluster
    (a firewall or an NSG is not itself a portsync target)."""
    if cloud.name == "aws":
        worker = cloud.roles["worker"]["security_group"]
        return sum(1 for w in plan.writes if w.target == worker)
    return len(plan.writes)


def test_a_lifeline_cut_after_a_write_stops_the_apply_there(cloud: Cloud) -> None:
    if cloud.name == "aws":
        # A fresh world's plan writes once per security group (one authorize each), so the
        # worker's write would be the last: make its plan an authorize and then a revoke.
        api.apply(load_config(cloud.write_config(extra_rules=EXTRA)))
        config = cloud.write_config(lifelines=LIFELINES, extra_rules=SWAPPED)
    else:
        config = cloud.write_config(lifelines=LIFELINES)
    written = cloud.writes()
    loaded = load_config(config)
    before = api.plan(loaded)
    statuses = {s.name: s.status for g in before.groups for s in g.lifelines}
    assert statuses["bastion -> ssh"] == "held"
    total = len(before.writes)
    assert total >= 2, before.writes
    cloud.after_first_write(cloud.shut_ssh)

    # One write at a time, so "no write after the cut" is exact (in parallel, writes already
    # in flight on other targets finish; the message counts them).
    with pytest.raises(LifelineCutDuringApply) as caught:
        api.apply(loaded, settings=Settings(mode=loaded.config.mode, max_workers=1))

    error = caught.value
    message = str(error)
    found = re.match(
        rf"lifeline 'bastion -> ssh' is cut after write (\d+) of {total} on "
        rf"prod-{cloud.name}/{re.escape(_worker_label(cloud))}\b.*: (.+?) \(apply stopped",
        message,
    )
    assert found is not None, message
    index = int(found[1])
    # Nothing was sent after the write the cut was found after.
    assert cloud.writes() - written == index == error.write < total, message
    assert error.lifeline == "bastion -> ssh" and error.total == total
    if cloud.name == "aws":
        # Only the worker's writes read it back; the cut is seen at the first of them.
        worker = cloud.roles["worker"]["security_group"]
        assert error.unit == worker
        assert found[2] == "no live rule admits tcp 22 from cidr:10.9.0.0/16", message
    else:
        assert index == 1, message
        assert found[2].startswith("deny rule "), message
        assert "(priority 100) stops tcp 22 from cidr:10.9.0.0/16" in found[2], message
    assert len(error.done) <= sum(len(g.ops) for g in before.groups)


def test_a_normal_apply_reads_back_once_per_watched_write(cloud: Cloud) -> None:
    # Without lifelines: no read back at all.
    config = cloud.write_config()
    loaded = load_config(config)
    session = Session(loaded, Settings(mode=loaded.config.mode))
    listings = cloud.listings()
    first = api.apply(loaded, session=session)
    assert first.changed and first.plan.writes
    assert first.lifeline_reads == session.read_backs == 0
    assert cloud.listings() - listings == session.reads

    # With them: one listing per write on a target with a lifeline to keep.
    config = cloud.write_config(lifelines=LIFELINES, extra_rules=EXTRA)
    loaded = load_config(config)
    session = Session(loaded, Settings(mode=loaded.config.mode))
    listings, writes = cloud.listings(), cloud.writes()
    second = api.apply(loaded, session=session)
    expected = _watched_writes(cloud, second.plan)
    assert expected >= 1, second.plan.writes
    assert cloud.writes() - writes == len(second.plan.writes)
    assert second.lifeline_reads == session.read_backs == expected
    assert cloud.listings() - listings == session.reads + expected
    assert api.plan(loaded).is_empty()


def test_a_lifeline_closed_before_the_apply_does_not_stop_the_apply_that_opens_it(
    cloud: Cloud,
) -> None:
    config = cloud.write_config(lifelines=LIFELINES)
    loaded = load_config(config)
    result = api.apply(loaded)
    statuses = {s.name: s.status for g in result.plan.groups for s in g.lifelines}
    assert statuses["ci -> api"] == "opened"
    assert result.lifelines_kept == 1  # bastion -> ssh only
    after = {s.name: s.status for g in api.plan(loaded).groups for s in g.lifelines}
    assert after == {"bastion -> ssh": "held", "ci -> api": "held"}


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("portsync").joinpath("schemas", f"{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_the_apply_schema_docs_copy_equals_the_package_copy() -> None:
    docs = Path(__file__).parents[2] / "docs" / "schemas" / "apply.schema.json"
    assert json.loads(docs.read_text(encoding="utf-8")) == _schema("apply")


def test_the_cli_reports_the_cut_in_text_and_json(gcp_cloud: Cloud) -> None:
    # The CLI path is the same for every cloud; GCP's plan has many writes in one phase, so the
    # apply runs them in parallel as it does by default.
    cloud = gcp_cloud
    config = cloud.write_config(lifelines=LIFELINES)
    total = len(api.plan(load_config(config)).writes)
    cloud.after_first_write(cloud.shut_ssh)
    done = runner.invoke(app, ["--config", str(config), "apply", "--auto-approve", "-o", "json"])

    assert done.exit_code == 1, done.output
    doc = json.loads(done.stdout)
    jsonschema.Draft202012Validator(_schema("error")).validate(doc)
    error = doc["error"]
    assert error["kind"] == "LifelineCutDuringApply"
    lifeline = error["lifeline"]
    assert lifeline["name"] == "bastion -> ssh"
    assert lifeline["target"] == "prod-gcp/k8s-node (worker)"
    assert lifeline["of"] == total
    assert lifeline["write"] == 1
    # What was in flight on other firewalls finished; nothing started after the cut.
    assert cloud.writes() == lifeline["sent"] < total
    assert lifeline["reason"].startswith("deny rule deny-ssh (priority 100) stops tcp 22")
    line = (
        f"error: lifeline 'bastion -> ssh' is cut after write 1 of {total} on "
        f"prod-gcp/k8s-node (worker): {lifeline['reason']}"
    )
    assert line in " ".join(done.stderr.split()), done.stderr
    assert error["message"] == line.removeprefix("error: ")


def test_the_cli_reports_a_finished_apply_in_json(azure_cloud: Cloud) -> None:
    cloud = azure_cloud
    config = cloud.write_config(lifelines=LIFELINES)
    done = runner.invoke(app, ["--config", str(config), "apply", "--auto-approve", "-o", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    jsonschema.Draft202012Validator(_schema("apply")).validate(doc)
    assert doc["changed"] is True
    assert doc["writes"] == cloud.writes() == 2
    assert doc["lifelines"] == {"kept": 1, "reads": 2}
    assert "1 lifeline held after every write (2 read back)." in done.stderr
