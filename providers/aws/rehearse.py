"""The AWS part of a rehearsal (docs/rehearse.md): the cluster's security groups copied into a
moto server of their own.

moto keeps its state per process, so the copy runs as a separate ``moto.server`` process: a copy
in the same process as another moto server (the tests' "live" cloud, or the demo's) would share
its state. EC2 chooses ids itself and moto cannot be told which to use, so the copy's groups,
prefix lists and rules have ids of their own; :attr:`Copied.ids` maps them back, and the derived
config binds the roles to the copy's groups. Everything else — group names, descriptions and
tags, every rule with its description and tags, prefix lists with their entries and max entries,
placeholder groups for the groups rules reference — is copied as read.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from portsync.config import ClusterConfig, Sources
from portsync.errors import MissingDependencyError, ProviderError
from portsync.provider import Settings
from portsync.rehearse import Copied

from .adapter import make_client
from .provider import AwsClusterConfig

__all__ = ["CloudCopy", "MotoProcess"]

#: How long moto may take to start (it imports every AWS service model).
START_TIMEOUT = 60.0

#: Tag keys EC2 reserves: they cannot be written, so they are not copied.
_RESERVED = "aws:"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoProcess:
    """``python -m moto.server`` on 127.0.0.1 and a free port, in a process of its own."""

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start moto and wait (bounded) until it answers; return its base URL.

        Raises:
            MissingDependencyError: moto[server] is not installed.
            ProviderError: moto did not start within ``timeout`` seconds.
        """
        try:
            found = importlib.util.find_spec("moto.server")
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise MissingDependencyError(
                "the AWS rehearsal copy needs moto server, which is not installed",
                hint="pip install 'portsync[emulators]'",
            )
        for _attempt in range(3):
            port = _free_port()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # The copy needs no machine images; loading moto's catalogue of them takes seconds.
                env={**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"},
            )
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._process.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2):
                        return self.url
                except (urllib.error.URLError, OSError):
                    time.sleep(0.05)
            self.stop()  # the port was taken after all, or moto hung: try another
        raise ProviderError(
            "the AWS rehearsal copy (moto server) did not start",
            hint="check that 'portsync[emulators]' is installed: python -m moto.server --help",
        )

    def stop(self) -> None:
        """Terminate moto (killed when it does not end within a second)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()  # a throw-away copy: nothing to lose
            process.wait(timeout=5)


def _paged(call: Any, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items


def _tags(tags: Iterable[Mapping[str, str]] | None) -> list[dict[str, str]]:
    return [
        {"Key": t["Key"], "Value": t.get("Value", "")}
        for t in tags or ()
        if not t["Key"].startswith(_RESERVED)
    ]


def _peer(item: Mapping[str, Any]) -> str:
    """The peer of a rule item or of one entry of an IpPermissions list, as text."""
    for key in ("CidrIpv4", "CidrIp", "CidrIpv6", "PrefixListId"):
        if item.get(key):
            return str(item[key])
    ref = item.get("ReferencedGroupInfo") or item
    return str(ref.get("GroupId", ""))


def _descriptions(groups: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, ...], str]:
    """Every rule's description as DescribeSecurityGroups lists it, by group, direction,
    protocol, ports and peer. DescribeSecurityGroupRules is the listing with ids and tags, but
    some EC2 implementations (moto) leave the description of a group reference out of it."""
    out: dict[tuple[Any, ...], str] = {}
    for group in groups:
        for egress, key in ((False, "IpPermissions"), (True, "IpPermissionsEgress")):
            for perm in group.get(key, []):
                head = (
                    group["GroupId"],
                    egress,
                    perm.get("IpProtocol"),
                    perm.get("FromPort", -1),
                    perm.get("ToPort", -1),
                )
                for kind in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"):
                    for item in perm.get(kind, []):
                        if item.get("Description"):
                            out[(*head, _peer(item))] = item["Description"]
    return out


def _permission(
    rule: Mapping[str, Any], ids: Mapping[str, str], described: Mapping[tuple[Any, ...], str]
) -> dict[str, Any]:
    """One DescribeSecurityGroupRules item as the IpPermissions entry that creates it."""
    perm: dict[str, Any] = {"IpProtocol": rule["IpProtocol"]}
    if rule["IpProtocol"] != "-1":
        perm["FromPort"] = rule.get("FromPort", -1)
        perm["ToPort"] = rule.get("ToPort", -1)
    head = (
        rule["GroupId"],
        bool(rule.get("IsEgress")),
        rule["IpProtocol"],
        rule.get("FromPort", -1),
        rule.get("ToPort", -1),
        _peer(rule),
    )
    description = rule.get("Description") or described.get(head)
    extra = {"Description": description} if description else {}
    if rule.get("CidrIpv4"):
        perm["IpRanges"] = [{"CidrIp": rule["CidrIpv4"], **extra}]
    elif rule.get("CidrIpv6"):
        perm["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **extra}]
    elif rule.get("PrefixListId"):
        perm["PrefixListIds"] = [{"PrefixListId": ids[rule["PrefixListId"]], **extra}]
    else:
        ref = rule.get("ReferencedGroupInfo") or {}
        perm["UserIdGroupPairs"] = [{"GroupId": ids[ref["GroupId"]], **extra}]
    return perm


class CloudCopy:
    """A moto process holding a copy of one AWS cluster's security groups."""

    def __init__(self) -> None:
        self.moto = MotoProcess()

    @property
    def emulator(self) -> MotoProcess:
        """The moto process (its ``url``)."""
        return self.moto

    def start(self, workdir: Path) -> None:
        """Start the moto process."""
        self.moto.start()

    def stop(self) -> None:
        """Stop the moto process."""
        self.moto.stop()

    @staticmethod
    def is_write(method: str, path: str, body: bytes) -> bool:
        """EC2's query protocol names the action in the form body: every non-Describe is one."""
        fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = (fields.get("Action") or [""])[0]
        return method == "POST" and bool(action) and not action.startswith(("Describe", "Get"))

    def copy(self, cluster: ClusterConfig, sources: Sources, settings: Settings) -> Copied:
        """Read the groups the cluster binds (and what their rules reference) and copy them."""
        config = AwsClusterConfig.model_validate(cluster.settings)
        live = make_client(
            region=config.region,
            endpoint=config.endpoint,
            profile=config.profile,
            anonymous=config.credentials == "anonymous",
            connect_timeout=cluster.timeout.connect,
            read_timeout=cluster.timeout.read,
            cluster=cluster.name,
        )
        copy = make_client(region=config.region, endpoint=self.moto.url, anonymous=True)
        # Every group of every role: a role bound to several reads them all.
        bound = list(dict.fromkeys(g for b in config.roles.values() for g in b.groups))
        lb_groups = [s for s in sources.load_balancers if s.startswith("sg-")]
        lists = {s for s in sources.load_balancers if s.startswith("pl-")}
        groups = _paged(
            live.describe_security_groups, "SecurityGroups", GroupIds=list(dict.fromkeys(bound))
        )
        rules = _paged(
            live.describe_security_group_rules,
            "SecurityGroupRules",
            Filters=[{"Name": "group-id", "Values": bound}],
        )
        referenced = {
            (r.get("ReferencedGroupInfo") or {}).get("GroupId")
            for r in rules
            if r.get("ReferencedGroupInfo")
        }
        lists |= {r["PrefixListId"] for r in rules if r.get("PrefixListId")}
        described = _descriptions(groups)
        ids: dict[str, str] = {}  # live id -> copy id
        vpcs: dict[str, str] = {}

        def vpc_for(live_vpc: str | None) -> str:
            key = live_vpc or ""
            if key not in vpcs:
                vpcs[key] = copy.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            return vpcs[key]

        for group in groups:
            spec = [{"ResourceType": "security-group", "Tags": _tags(group.get("Tags"))}]
            made = copy.create_security_group(
                GroupName=group["GroupName"],
                Description=group.get("Description") or group["GroupName"],
                VpcId=vpc_for(group.get("VpcId")),
                **({"TagSpecifications": spec} if spec[0]["Tags"] else {}),
            )["GroupId"]
            ids[group["GroupId"]] = made
            # A new group has EC2's allow-all egress; the live group may not: start empty.
            defaults = [
                r["SecurityGroupRuleId"]
                for r in copy.describe_security_group_rules(
                    Filters=[{"Name": "group-id", "Values": [made]}]
                )["SecurityGroupRules"]
            ]
            if defaults:
                copy.revoke_security_group_egress(GroupId=made, SecurityGroupRuleIds=defaults)
        for other in sorted(g for g in (referenced | set(lb_groups)) - set(ids) if g):
            # Referenced only: an empty stand-in so a rule naming it can be written.
            ids[other] = copy.create_security_group(
                GroupName=f"stand-in-{other}",
                Description=f"stand-in for {other}",
                VpcId=vpc_for(None),
            )["GroupId"]
        if lists:
            found = _paged(
                live.describe_managed_prefix_lists, "PrefixLists", PrefixListIds=sorted(lists)
            )
            for item in found:
                entries = _paged(
                    live.get_managed_prefix_list_entries,
                    "Entries",
                    PrefixListId=item["PrefixListId"],
                )
                ids[item["PrefixListId"]] = copy.create_managed_prefix_list(
                    PrefixListName=item.get("PrefixListName") or item["PrefixListId"],
                    MaxEntries=item.get("MaxEntries") or max(1, len(entries)),
                    AddressFamily=item.get("AddressFamily", "IPv4"),
                    Entries=[
                        {
                            "Cidr": e["Cidr"],
                            **({"Description": e["Description"]} if e.get("Description") else {}),
                        }
                        for e in entries
                    ],
                )["PrefixList"]["PrefixListId"]
        for rule in rules:
            tags = _tags(rule.get("Tags"))
            call = (
                copy.authorize_security_group_egress
                if rule.get("IsEgress")
                else copy.authorize_security_group_ingress
            )
            made = call(
                GroupId=ids[rule["GroupId"]],
                IpPermissions=[_permission(rule, ids, described)],
                **(
                    {"TagSpecifications": [{"ResourceType": "security-group-rule", "Tags": tags}]}
                    if tags
                    else {}
                ),
            )
            for item in made.get("SecurityGroupRules", []):
                ids[rule["SecurityGroupRuleId"]] = item["SecurityGroupRuleId"]
        entry = cluster.model_dump(mode="json")
        entry.update(
            endpoint=self.moto.url,
            credentials="anonymous",
            profile=None,
            roles={role: _copied_binding(b, ids) for role, b in config.roles.items()},
        )
        copied_sources = sources.model_copy(
            update={"load_balancers": tuple(ids.get(s, s) for s in sources.load_balancers)}
        )
        return Copied(
            entry=entry,
            targets=len(set(bound)),
            sources=copied_sources,
            ids={copy_id: live_id for live_id, copy_id in ids.items()},
        )


def _copied_binding(binding: Any, ids: Mapping[str, str]) -> dict[str, Any]:
    """A role binding naming the copies of its groups, in the form the config gave it."""
    if binding.security_groups is None:
        return {"security_group": ids[binding.target]}
    return {
        "security_groups": [ids[g] for g in binding.security_groups],
        "write_to": ids[binding.target],
    }
