"""AWS compile's pure helpers on inputs a read never gives but compile must still answer for:
the quota as EC2 counts it (each direction and family, prefix lists by weight, group references
in both families, and offline without weights), a snapshot without quotas, owners or groups, and
rules without a rule id. The usual paths are the golden cases (tests/providers/aws/cases)."""

from __future__ import annotations

import pytest

from portsync.errors import ConflictError, NotFoundError, ProviderLimitError, TranslationError
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, UpdateRuleOp
from portsync.providers.aws.translate import (
    AwsNative,
    check_counts,
    compile_writes,
    permissions_for,
)
from portsync.writes import Snapshot


def _rule(
    peer: str, port: int = 22, *, egress: bool = False, rule_id: str | None = None
) -> TargetRule:
    return TargetRule(
        target="sg-0a",
        role="worker",
        direction=Direction.EGRESS if egress else Direction.INGRESS,
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse(peer),
        description="portsync: test",
        owned=True,
        native_id=rule_id,
    )


V4 = ["cidr:10.0.0.1/32", "cidr:10.0.0.2/32"]
V6 = ["cidr:fd00::1/128", "cidr:fd00::2/128"]


@pytest.mark.parametrize(
    ("peers", "weights", "limit", "refused"),
    [
        # A prefix list after other rules adds its weight to what is counted already.
        ([*V4, "pl:pl-4"], {"pl-4": ("IPv4", 8)}, 9, "10 IPv4 ingress"),
        # An IPv6 list weighs nothing in IPv4, an IPv4 list nothing in IPv6: each family at
        # exactly the quota fits, so one rule more in the other family would be refused.
        ([*V4, "pl:pl-6"], {"pl-6": ("IPv6", 2)}, 2, None),
        ([*V6, "pl:pl-4"], {"pl-4": ("IPv4", 2)}, 2, None),
        # IPv6 ranges count in IPv6 only, one each.
        (V6, {}, 1, "2 IPv6 ingress"),
        (V6 + V4[:1], {}, 2, None),
        # A group reference counts once in each family, after what is counted already.
        ([*V6, "sg:sg-0b"], {}, 2, "3 IPv6 ingress"),
        # Offline (no weights read), a prefix list counts one rule in each family.
        ([*V4, "pl:pl-x"], None, 2, "3 IPv4 ingress"),
        ([*V6, "pl:pl-x"], None, 2, "3 IPv6 ingress"),
    ],
)
def test_quota_counts_as_ec2_does(
    peers: list[str], weights: dict[str, tuple[str, int]] | None, limit: int, refused: str | None
) -> None:
    rules = [_rule(peer, 22 + i) for i, peer in enumerate(peers)]
    if refused is None:
        check_counts("sg-0a", rules, limit=limit, weights=weights)
        return
    with pytest.raises(ProviderLimitError) as caught:
        check_counts("sg-0a", rules, limit=limit, weights=weights)
    assert caught.value.message == (
        f"sg-0a would hold {refused} rules, over the AWS quota of {limit} per group"
    )


def test_each_direction_is_counted_on_its_own() -> None:
    rules = [_rule(V4[0], egress=True), _rule(V4[0], 22), _rule(V4[1], 23)]
    with pytest.raises(ProviderLimitError, match="2 IPv4 ingress rules"):
        check_counts("sg-0a", rules, limit=1)


def _compile(ops: list[Op], native: AwsNative, quotas: dict[str, int] | None = None) -> list[dict]:  # type: ignore[type-arg]
    group = GroupOps(
        cluster="prod",
        provider="aws",
        target="sg-0a",
        role="worker",
        label="sg-0a (worker)",
        ops=tuple(ops),
    )
    snapshot = Snapshot(provider="aws", native=native, quotas=quotas or {})
    return [w.to_dict() for w in compile_writes([group], snapshot)]


def test_without_a_quota_read_the_ec2_default_of_60_applies() -> None:
    fits = [CreateRuleOp(_rule(f"cidr:10.0.0.{i}/32")) for i in range(60)]
    assert len(_compile(fits, AwsNative())) == 1
    over = [*fits, CreateRuleOp(_rule("cidr:10.0.1.0/32"))]
    with pytest.raises(ProviderLimitError, match="61 IPv4 ingress rules, over the AWS quota of 60"):
        _compile(over, AwsNative())


def test_a_snapshot_without_a_native_part_compiles_with_the_defaults() -> None:
    """``Snapshot.native`` defaults to None (a snapshot no AWS read made): compile then knows
    no prefix list, group or owner, and still writes, with the EC2 default quota."""
    group = GroupOps(
        cluster="prod",
        provider="aws",
        target="sg-0a",
        role="worker",
        label="sg-0a (worker)",
        ops=(CreateRuleOp(_rule("cidr:10.0.0.0/8")),),
    )
    (write,) = compile_writes([group], Snapshot(provider="aws"))
    assert write.method == "AuthorizeSecurityGroupIngress"
    assert {"Key": "portsync:owner", "Value": "prod"} in (
        write.body["TagSpecifications"][0]["Tags"]
    )


def test_without_an_owner_or_a_group_read_the_cluster_owns_and_nothing_is_refused() -> None:
    (write,) = _compile([CreateRuleOp(_rule("cidr:10.0.0.0/8"))], AwsNative())
    tags = write["body"]["TagSpecifications"][0]["Tags"]
    assert {"Key": "portsync:owner", "Value": "prod"} in tags


def test_references_to_the_own_account_alone_and_to_others_are_written() -> None:
    native = AwsNative(groups={"sg-0a": {"GroupId": "sg-0a", "OwnerId": "111122223333"}})
    ops: list[Op] = [
        CreateRuleOp(_rule("sg:sg-0b")),
        CreateRuleOp(_rule("sg:210987654321/sg-0c")),
        CreateRuleOp(_rule("cidr:10.0.0.0/8")),
    ]
    (write,) = _compile(ops, native)
    (perm,) = write["body"]["IpPermissions"]
    assert perm["UserIdGroupPairs"] == [
        {"UserId": "210987654321", "GroupId": "sg-0c", "Description": "portsync: test"},
        {"GroupId": "sg-0b", "Description": "portsync: test"},
    ]


def test_missing_prefix_lists_are_named_together_without_a_region() -> None:
    ops: list[Op] = [CreateRuleOp(_rule("pl:pl-1")), CreateRuleOp(_rule("pl:pl-2", 23))]
    with pytest.raises(NotFoundError) as caught:
        _compile(ops, AwsNative())
    assert caught.value.message == "cluster prod: prefix list pl-1, pl-2 does not exist"
    assert caught.value.hint == "check sources.load_balancers and the region in the config"


@pytest.mark.parametrize("kind", ["update", "adopt", "remove"])
def test_a_change_to_a_rule_without_a_rule_id_is_refused_naming_the_group(kind: str) -> None:
    live = _rule("cidr:10.0.0.0/8")
    after = live.replace(description="portsync: new")
    op: Op
    if kind == "update":
        op = UpdateRuleOp(live, after)
    elif kind == "adopt":
        op = UpdateRuleOp(live.replace(legacy=True), live)
    else:
        op = DeleteRuleOp(live)
    with pytest.raises(ConflictError) as caught:
        _compile([op], AwsNative())
    assert caught.value.message == (
        "cluster prod: sg-0a (worker): no rule id was read for ingress tcp/22 cidr:10.0.0.0/8; "
        "portsync changes rules by id only"
    )
    assert caught.value.hint == "run `portsync plan` again and apply the new plan"


def test_a_peer_ec2_cannot_name_is_refused() -> None:
    with pytest.raises(TranslationError) as caught:
        permissions_for([_rule("tag:k8s-node")])
    assert caught.value.message == "AWS cannot express peer tag:k8s-node"
