"""``portsync audit`` reports the lifelines that are not open today, on all three emulators, in
every audit format: the worker's SSH lifeline from the bastion range has no rule admitting it
(the world's foreign SSH rule admits another range), the API lifeline from a range in
``sources.all`` is open once applied and is not reported."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from tests.providers.clouds import Cloud

runner = CliRunner()

LIFELINES = [
    {"name": "ci -> api", "from": "cidr:203.0.113.0/24", "to": "control-plane", "port": 6443},
    {"name": "bastion -> ssh", "from": "cidr:192.0.2.0/24", "to": "worker", "port": 22},
]


def test_audit_reports_closed_lifelines_in_every_format(cloud: Cloud) -> None:
    config = cloud.write_config(lifelines=LIFELINES)
    api.apply(load_config(config))
    writes = cloud.writes()

    result = runner.invoke(app, ["--config", str(config), "audit", "-o", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    found = [f for f in report["findings"] if f["id"] == "PS-LIFELINE-CLOSED"]
    assert [(f["role"], f["severity"]) for f in found] == [("worker", "warning")]
    (finding,) = found
    assert "lifeline 'bastion -> ssh' is not open" in finding["message"]
    assert finding["rule"]["peer"] == "cidr:192.0.2.0/24"
    assert finding["location"].endswith("tcp-22-cidr:192.0.2.0/24")
    assert finding["sarif_rule_id"] == "portsync/lifeline/closed"

    for output in ("text", "markdown", "sarif"):
        shown = runner.invoke(app, ["--config", str(config), "audit", "-o", output])
        assert shown.exit_code == 0, shown.output
        assert "lifeline 'bastion -" in shown.stdout, output
        assert "lifeline 'ci -" not in shown.stdout, output
        assert "PS-LIFELINE-CLOSED" in shown.stdout or "portsync/lifeline/closed" in shown.stdout
    assert cloud.writes() == writes, "audit wrote to the cloud"

    # Opened by an extra rule: no finding any more.
    ssh = {"role": "worker", "protocol": "tcp", "ports": 22, "peer": "cidr:192.0.2.0/24"}
    config = cloud.write_config(lifelines=LIFELINES, extra_rules=[ssh])
    api.apply(load_config(config))
    result = runner.invoke(app, ["--config", str(config), "audit", "-o", "json"])
    assert not [f for f in json.loads(result.stdout)["findings"] if f["id"] == "PS-LIFELINE-CLOSED"]
