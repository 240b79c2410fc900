"""The endpoint kinds of GCP rules, declared to the core (see :mod:`portsync.peers`).

GCP has no native peer a config names: roles are bound to network tags or service accounts, and
those are the peers of the rules between roles (``tag:…``, ``sa:…``).
"""

from __future__ import annotations

from portsync.model import EndpointKind
from portsync.peers import CloudSyntax

__all__ = ["MARKER", "SERVICE_ACCOUNT", "SYNTAX", "TAG"]

#: Description prefix portsync writes, for people reading the console. Never proof of ownership
#: (anyone can type it): the owner digest in the name is. Firewalls of releases before owner
#: identities carry only this marker and the name prefix (``legacy``).
MARKER = "[portsync]"

#: A network tag as a rule's target or peer: ``tag:k8s-worker``.
TAG = EndpointKind("tag")
#: A service account as a rule's target or peer: ``sa:nodes@project.iam.gserviceaccount.com``.
SERVICE_ACCOUNT = EndpointKind("sa")

SYNTAX = CloudSyntax(kinds=(TAG, SERVICE_ACCOUNT), markers=(f"{MARKER} ",))
