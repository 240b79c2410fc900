"""Config loading: every bad value is one clear message naming file:line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from portsync.config import load_config, parse_config
from portsync.errors import ConfigError
from portsync.synthesis import synthesize

GOOD = """\
catalog: kubernetes
etcd: stacked
overrides:
  kube-apiserver: 443
  nodeport: 30000-32000
sources:
  all: [203.0.113.7]
mode: owned
clusters:
  - name: prod-aws
    provider: aws
    region: eu-west-1
    roles:
      control-plane: {security_group: sg-0aaa}
      worker: {security_group: sg-0bbb}
"""


def _error(text: str, tmp_path: Path) -> str:
    path = tmp_path / "portsync.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_load_config_good_file_normalises_sources(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(GOOD)
    loaded = load_config(path)
    assert loaded.config.sources.all == ("203.0.113.7/32",)
    assert loaded.config.clusters[0].name == "prod-aws"
    # A prefix with host bits set is a mistake to name, not to widen silently.
    path.write_text(GOOD.replace("[203.0.113.7]", "[203.0.113.7/24]"))
    with pytest.raises(ConfigError, match=r"203\.0\.113\.7/24: host bits set"):
        load_config(path)


def test_load_config_no_file_uses_builtin_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_config(None)
    assert loaded.path is None
    assert len(synthesize(loaded)) == 10


def test_load_config_env_var_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("PORTSYNC_CONFIG", str(path))
    assert load_config(None).path == path


def test_load_config_missing_explicit_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_parse_config_unknown_key_names_line_and_fix(tmp_path: Path) -> None:
    message = _error("catalog: kubernetes\nmdoe: owned\n", tmp_path)
    assert "portsync.yaml:2" in message
    assert "unknown key 'mdoe'" in message
    assert "remove it or check its spelling" in message


def test_parse_config_bad_mode_lists_choices(tmp_path: Path) -> None:
    message = _error("mode: sometimes\n", tmp_path)
    assert "portsync.yaml:1" in message
    assert "additive" in message and "exclusive" in message


def test_parse_config_bad_cidr_points_at_the_item(tmp_path: Path) -> None:
    message = _error("sources:\n  all:\n    - 10.0.0.0/8\n    - 300.1.1.1/8\n", tmp_path)
    assert "portsync.yaml:4" in message
    assert "300.1.1.1/8" in message


def test_parse_config_bad_override_names_components(tmp_path: Path) -> None:
    message = _error("overrides:\n  apiserver: 443\n", tmp_path)
    assert "portsync.yaml:2" in message
    assert "kube-apiserver" in message


def test_parse_config_reversed_port_range_is_refused(tmp_path: Path) -> None:
    message = _error("overrides:\n  nodeport: 32767-30000\n", tmp_path)
    assert "reversed" in message


def test_parse_config_invalid_yaml_names_line(tmp_path: Path) -> None:
    message = _error("catalog: kubernetes\nclusters: [\n  - a\n", tmp_path)
    assert "invalid YAML" in message
    assert "portsync.yaml:" in message


def test_parse_config_unknown_provider_lists_installed(tmp_path: Path) -> None:
    message = _error(
        "clusters:\n  - name: x\n    provider: openstack\n    roles: {worker: {}}\n", tmp_path
    )
    assert "portsync.yaml:3" in message
    assert "unknown provider 'openstack'" in message
    assert "aws" in message


def test_parse_config_provider_keys_validated_by_provider_model(tmp_path: Path) -> None:
    message = _error(
        "clusters:\n  - name: x\n    provider: aws\n    region: eu-west-1\n"
        "    roles:\n      worker: {security_group: not-a-group}\n",
        tmp_path,
    )
    assert "portsync.yaml:6" in message
    assert "security_group" in message


def test_parse_config_duplicate_cluster_names_refused() -> None:
    text = (
        "clusters:\n"
        "  - {name: a, provider: aws, region: r, roles: {worker: {security_group: sg-1}}}\n"
        "  - {name: a, provider: aws, region: r, roles: {worker: {security_group: sg-2}}}\n"
    )
    with pytest.raises(ConfigError, match="used twice"):
        parse_config(text)


def test_parse_config_top_level_list_refused() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n- b\n")


def test_synthesize_overrides_move_apiserver_and_nodeport(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(GOOD)
    rules = synthesize(load_config(path))
    ports = {(r.role, str(r.ports), str(r.peer)) for r in rules}
    assert ("control-plane", "443", "any") in ports
    assert ("control-plane", "6443", "any") not in ports
    assert ("worker", "30000-32000", "any") in ports


def test_synthesize_etcd_external_moves_etcd_rule(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text("etcd: external\n")
    rules = synthesize(load_config(path))
    etcd = {(r.role, str(r.ports), str(r.peer)) for r in rules if r.role == "etcd"}
    assert etcd == {("etcd", "2379-2380", "role:control-plane"), ("etcd", "2379-2380", "self")}
    assert not any(r.role == "control-plane" and str(r.ports) == "2379-2380" for r in rules)


def test_synthesize_extra_rules_are_added(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(
        "extra_rules:\n  - {role: worker, protocol: udp, ports: 8472, peer: self, purpose: flannel vxlan}\n"
    )
    rules = synthesize(load_config(path))
    assert any(r.protocol.value == "udp" and str(r.ports) == "8472" for r in rules)
    assert len(rules) == 11


def test_extra_rule_for_a_list_of_roles_adds_one_rule_per_role(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(
        GOOD + "extra_rules:\n  - {role: [control-plane, worker], protocol: tcp, ports: 9100, "
        "peer: 'cidr:10.8.0.0/16', purpose: node-exporter}\n"
    )
    rules = [r for r in synthesize(load_config(path)) if str(r.ports) == "9100"]
    assert sorted(r.role for r in rules) == ["control-plane", "worker"]
    assert {str(r.peer) for r in rules} == {"cidr:10.8.0.0/16"}


def test_extra_rule_for_every_role_covers_the_roles_clusters_bind(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    text = GOOD + (
        "  - name: prod-gcp\n    provider: gcp\n    project: my-project-1\n"
        "    roles:\n      worker: {target_tag: k8s-node}\n      ingress: {target_tag: k8s-in}\n"
        "extra_rules:\n  - {role: '*', protocol: tcp, ports: 22, peer: 'cidr:10.9.0.0/16', "
        "purpose: bastion ssh}\n"
    )
    path.write_text(text)
    rules = [r for r in synthesize(load_config(path)) if str(r.ports) == "22"]
    # Each bound role once, although worker is bound by both clusters.
    assert [r.role for r in rules] == ["control-plane", "worker", "ingress"]


def test_extra_rule_role_list_names_the_bad_role(tmp_path: Path) -> None:
    message = _error(
        GOOD + "extra_rules:\n  - {role: [worker, Control Plane], protocol: tcp, ports: 1, "
        "peer: self}\n",
        tmp_path,
    )
    assert "portsync.yaml:" in message and "'Control Plane'" in message
    assert "control-plane" in message  # the suggested slug


def test_extra_rule_empty_role_list_is_refused(tmp_path: Path) -> None:
    message = _error(
        GOOD + "extra_rules:\n  - {role: [], protocol: tcp, ports: 1, peer: self}\n", tmp_path
    )
    assert "at least one role" in message


def test_parse_config_extra_rule_bad_peer_is_refused(tmp_path: Path) -> None:
    message = _error(
        "extra_rules:\n  - {role: worker, protocol: tcp, ports: 1, peer: everyone}\n", tmp_path
    )
    assert "portsync.yaml:2" in message
    assert "everyone" in message


def test_rule_set_for_roles_keeps_only_those_roles_in_order(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(GOOD)
    rules = synthesize(load_config(path))
    workers = rules.for_roles(["worker"])
    assert {r.role for r in workers} == {"worker"}
    assert list(workers) == [r for r in rules if r.role == "worker"]
    assert rules.for_roles(["control-plane", "worker", "etcd"]) is rules  # every role: no copy
    assert len(rules.for_roles(["no-such-role"])) == 0
    assert rules.for_role("control-plane") == rules.for_roles(["control-plane"])
