"""The served surface of the Azure Resource Manager emulator: resource types, the bounds read
from the vendored swagger, fault kinds and the URL routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from portsync.providers.azure import swagger

JSON = dict[str, Any]
Observer = Callable[[JSON], None]
_T = TypeVar("_T")

#: api-version that azure-mgmt-network 33.1.0 sends by default (informational; any is accepted).
SDK_DEFAULT_API_VERSION = "2026-03-01"

NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
RULE_TYPE = f"{NSG_TYPE}/securityRules"
DEFAULT_RULE_TYPE = f"{NSG_TYPE}/defaultSecurityRules"
ASG_TYPE = "Microsoft.Network/applicationSecurityGroups"

# Read from the Microsoft.Network swagger kept in spec/ (see providers/azure/swagger.py).
SWAGGER = swagger.load()
_RULE_PROPERTIES = "SecurityRulePropertiesFormat"
#: Custom rule priorities allowed by Azure (swagger: "between 100 and 4096").
MIN_PRIORITY, MAX_PRIORITY = SWAGGER.documented_range(_RULE_PROPERTIES, "priority")
#: Rules per NSG (Azure subscription limits: "Security rules per network security group").
MAX_RULES_PER_NSG = 1000
#: Swagger: "A description for this rule. Restricted to 140 chars."
MAX_DESCRIPTION_LENGTH = SWAGGER.documented_max_length(_RULE_PROPERTIES, "description")

#: The six rules Azure puts in every NSG: (name, description, source, destination, access,
#: priority, direction).
DEFAULT_SECURITY_RULES: tuple[tuple[str, str, str, str, str, int, str], ...] = (
    (
        "AllowVnetInBound",
        "Allow inbound traffic from all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Inbound",
    ),
    (
        "AllowAzureLoadBalancerInBound",
        "Allow inbound traffic from azure load balancer",
        "AzureLoadBalancer",
        "*",
        "Allow",
        65001,
        "Inbound",
    ),
    ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
    (
        "AllowVnetOutBound",
        "Allow outbound traffic from all VMs to all VMs in VNET",
        "VirtualNetwork",
        "VirtualNetwork",
        "Allow",
        65000,
        "Outbound",
    ),
    (
        "AllowInternetOutBound",
        "Allow outbound traffic from all VMs to Internet",
        "*",
        "Internet",
        "Allow",
        65001,
        "Outbound",
    ),
    ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
)

#: Fault kinds accepted by :meth:`AzureEmulator.inject`.
FAULT_KINDS = frozenset(
    {"throttle", "server_error", "another_operation", "operation_failed", "slow", "reset"}
)
_WRITE_ONLY_FAULTS = frozenset({"another_operation", "operation_failed"})


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_NET = r"/providers/microsoft\.network"
_NSG = _RG + _NET + r"/networksecuritygroups/(?P<nsg>[^/]+)"
_ASG_ID_RE = re.compile(
    r"^" + _RG + _NET + r"/applicationsecuritygroups/(?P<asg>[^/]+)/?$", re.IGNORECASE
)

# (regex, {method: operation name}) — first match wins.
_ROUTES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = tuple(
    (re.compile("^" + pattern + "/?$", re.IGNORECASE), methods)
    for pattern, methods in (
        (_SUB + _NET + r"/networksecuritygroups", {"GET": "nsg.list_all"}),
        (_RG + _NET + r"/networksecuritygroups", {"GET": "nsg.list"}),
        (
            _NSG,
            {
                "GET": "nsg.get",
                "PUT": "nsg.put",
                "PATCH": "nsg.update_tags",
                "DELETE": "nsg.delete",
            },
        ),
        (_NSG + r"/securityrules", {"GET": "rule.list"}),
        (
            _NSG + r"/securityrules/(?P<rule>[^/]+)",
            {"GET": "rule.get", "PUT": "rule.put", "DELETE": "rule.delete"},
        ),
        (_NSG + r"/defaultsecurityrules", {"GET": "default_rule.list"}),
        (_NSG + r"/defaultsecurityrules/(?P<rule>[^/]+)", {"GET": "default_rule.get"}),
        (_RG + _NET + r"/applicationsecuritygroups", {"GET": "asg.list"}),
        (
            _RG + _NET + r"/applicationsecuritygroups/(?P<asg>[^/]+)",
            {"GET": "asg.get", "PUT": "asg.put", "DELETE": "asg.delete"},
        ),
        (
            _SUB + _NET + r"/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
            {"GET": "operation.get"},
        ),
        (
            _SUB + _NET + r"/locations/(?P<loc>[^/]+)/operationresults/(?P<op>[^/]+)",
            {"GET": "operation_result.get"},
        ),
    )
)
