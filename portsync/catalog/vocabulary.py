"""The words a port table may use, in every language the parser knows, as plain data.

The parser finds a port table by the *shape* of its cells, then reads each cell through the tables
below. Adding a language means adding its words here; no parser code changes. Keys are compared
after :func:`phrase_key` (Unicode NFKC, case-folded, ``-``/``_`` read as spaces, ``(s)`` dropped,
whitespace collapsed), so ``Control-plane``, ``control plane`` and ``CONTROL PLANE`` are one word.

Languages: English plus the Kubernetes documentation translations seen in the wild — ``zh-cn``,
``ja``, ``ko``, ``fr``, ``id``, ``uk`` (checked against real pages) — and a best-effort list for
``de``, ``es``, ``pt-br``, ``it``, ``ru``, ``pl`` and ``vi``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeVar

from portsync.model import PROTOCOL_NAMES, Direction, Protocol

__all__ = [
    "ANCHOR_ROLES",
    "COLUMN_HEADERS",
    "COMPONENTS",
    "COMPONENT_PATTERNS",
    "CONDITION_HEADERS",
    "CONNECTION_TYPES",
    "DIRECTIONS",
    "HEADING_NOISE",
    "IMPLIED_USED_BY",
    "LANGUAGES",
    "NODE_GROUPS",
    "OTHER_PROTOCOLS",
    "PROTOCOLS",
    "ROLE_HEADINGS",
    "USED_BY",
    "USED_BY_EXAMPLES",
    "build_lookup",
    "lookup_keys",
    "loose_key",
    "phrase_key",
]

LANGUAGES: tuple[str, ...] = (
    "en", "zh-cn", "ja", "ko", "fr", "id", "uk", "de", "es", "pt-br", "it", "ru", "pl", "vi",
)  # fmt: skip

# --- protocol column ---------------------------------------------------------------------------

PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        **{name: Protocol(name) for name in PROTOCOL_NAMES},
        "ip-in-ip": Protocol.IPIP, "ipinip": Protocol.IPIP, "ipencap": Protocol.IPIP,
        "icmp6": Protocol.ICMPV6, "ipv6-icmp": Protocol.ICMPV6,
    }
)  # fmt: skip
"""Protocol words of the Protocol column. TCP, UDP and SCTP rows carry ports; ICMP and ICMPv6
rows may carry a type (``8``) or type/code (``8/0``) in the port column; the others (IP-in-IP,
ESP, AH, GRE, ``all``) carry nothing there (``-``). An IANA protocol number (``4``, ``132``) is
read too."""

OTHER_PROTOCOLS: frozenset[str] = frozenset({"any", "ip"})
"""Protocol words recognised as such (so the row is read as a port row) but refused: they do not
say which protocol."""

# --- direction column --------------------------------------------------------------------------

DIRECTIONS: Mapping[Direction, tuple[str, ...]] = MappingProxyType(
    {
        Direction.INGRESS: (
            "inbound", "ingress", "in", "incoming",  # en
            "入站", "入", "入方向", "入站方向",  # zh-cn
            "インバウンド", "受信",  # ja
            "인바운드", "수신",  # ko
            "entrant", "entrante", "entrée",  # fr
            "masuk",  # id
            "вхідний", "вхідні", "вхідна",  # uk
            "eingehend",  # de
            "entrada",  # es, pt-br
            "in entrata",  # it
            "входящий", "входящие",  # ru
            "przychodzący", "przychodzące",  # pl
            "vào", "đầu vào",  # vi
        ),
        Direction.EGRESS: (
            "outbound", "egress", "out", "outgoing",
            "出站", "出", "出方向", "出站方向",
            "アウトバウンド", "送信",
            "아웃바운드", "송신",
            "sortant", "sortante", "sortie",
            "keluar",
            "вихідний", "вихідні", "вихідна",
            "ausgehend",
            "saliente", "salida", "saída",
            "in uscita",
            "исходящий", "исходящие",
            "wychodzący", "wychodzące",
            "ra", "đầu ra",
        ),
    }
)  # fmt: skip

# --- role headings -----------------------------------------------------------------------------

ROLE_HEADINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "control-plane": (
            "control plane", "control plane node", "control plane nodes", "control planes",
            "master", "masters", "master node", "master nodes",  # en (old pages)
            "控制面", "控制平面", "控制面节点", "控制平面节点", "主节点",  # zh-cn
            "コントロールプレーン", "コントロールプレーンノード",
            "マスター", "マスターノード",  # ja
            "컨트롤 플레인", "컨트롤 플레인 노드", "마스터", "마스터 노드",  # ko
            "plan de contrôle", "le plan de contrôle", "nœuds du plan de contrôle",
            "nœud maître", "nœuds maîtres", "maître",  # fr
            "panel kontrol", "bidang kontrol", "node master",  # id
            "панель управління", "площина управління", "площина керування",
            "контрольна площина",  # uk
            "steuerungsebene", "control plane knoten",  # de
            "plano de control", "nodos del plano de control",  # es
            "plano de controle", "nós do plano de controle",  # pt-br
            "piano di controllo",  # it
            "плоскость управления", "управляющий слой", "управляющие узлы",  # ru
            "warstwa sterowania", "płaszczyzna sterowania",  # pl
            "mặt phẳng điều khiển",  # vi
        ),
        "worker": (
            "worker", "workers", "worker node", "worker nodes", "node", "nodes",  # en
            "工作节点", "节点", "工作者节点",  # zh-cn
            "ワーカーノード", "ワーカー", "ノード",  # ja
            "워커 노드", "워커", "노드",  # ko
            "nœud de travail", "nœuds de travail", "nœud worker", "nœuds worker", "nœuds",  # fr
            "node pekerja", "worker node", "simpul pekerja",  # id
            "робочі вузли", "робочий вузол", "вузли", "вузол",  # uk
            "worker knoten", "arbeitsknoten", "knoten",  # de
            "nodos de trabajo", "nodos worker", "nodos",  # es
            "nós de trabalho", "nós worker", "nós",  # pt-br
            "nodi worker", "nodi di lavoro", "nodi",  # it
            "рабочие узлы", "рабочий узел", "узлы",  # ru
            "węzły robocze", "węzeł roboczy", "węzły",  # pl
            "node worker", "các node worker",  # vi
        ),
    }
)  # fmt: skip
"""Heading words that name the two Kubernetes roles. Any other heading becomes its own slug."""

ANCHOR_ROLES: Mapping[str, str] = MappingProxyType(
    {
        "control-plane": "control-plane",
        "master": "control-plane",
        "master-nodes": "control-plane",
        "node": "worker",
        "nodes": "worker",
        "worker": "worker",
        "worker-nodes": "worker",
    }
)
"""Heading anchors (``{#node}``) that translations keep in English: a fallback for headings in
a language this vocabulary does not know yet."""

# --- "Used by" column --------------------------------------------------------------------------

USED_BY: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "any": (
            "all", "any", "anyone", "everyone", "anywhere", "everything",  # en
            "所有", "全部", "任何", "任意",  # zh-cn
            "全て", "すべて", "全部",  # ja
            "전부", "모두", "전체",  # ko
            "tous", "toutes", "tout", "n'importe qui",  # fr
            "semua",  # id
            "усі", "всі", "будь-хто",  # uk
            "alle",  # de
            "todos", "todas", "cualquiera",  # es, pt-br
            "tutti",  # it
            "все", "любой",  # ru
            "wszyscy", "wszystkie",  # pl
            "tất cả",  # vi
        ),
        "self": (
            "self", "itself", "same node", "this node",  # en
            "自身", "自己", "本身",  # zh-cn
            "自分",  # ja (also 自身)
            "자신", "자체",  # ko
            "lui-même", "le nœud lui-même", "nœud lui-même", "soi-même", "elle-même",  # fr
            "diri sendiri", "sendiri",  # id
            "власний", "сам", "сам вузол",  # uk
            "selbst",  # de
            "sí mismo", "si mismo", "el propio nodo",  # es
            "o próprio nó", "próprio", "si mesmo",  # pt-br
            "se stesso", "il nodo stesso",  # it
            "сам узел", "собственный",  # ru
            "sam", "własny",  # pl
            "chính nó",  # vi
        ),
        "load-balancers": (
            "load balancer", "load balancers", "lb", "lbs",  # en
            "负载均衡器", "负载均衡",  # zh-cn
            "ロードバランサー", "ロードバランサ",  # ja
            "로드 밸런서", "로드밸런서",  # ko
            "équilibreur de charge", "équilibreurs de charge",
            "répartiteur de charge", "répartiteurs de charge",  # fr
            "penyeimbang beban",  # id
            "балансувальник навантаження", "балансувальники навантаження",  # uk
            "lastverteiler",  # de
            "balanceador de carga", "balanceadores de carga",  # es, pt-br
            "bilanciatore di carico", "bilanciatori di carico",  # it
            "балансировщик нагрузки", "балансировщики нагрузки",  # ru
            "równoważnik obciążenia", "load balancery",  # pl
            "bộ cân bằng tải",  # vi
        ),
        "role:control-plane": ROLE_HEADINGS["control-plane"],
        "role:worker": ROLE_HEADINGS["worker"],
        "component:kube-apiserver": (
            "kube-apiserver", "apiserver", "api server", "kubernetes api server",
        ),
        "component:etcd": ("etcd",),
    }
)  # fmt: skip
"""Words of the "Used by" column, keyed by the normalised symbol the parser records."""

USED_BY_EXAMPLES: tuple[str, ...] = (
    "All", "Self", "Control plane", "Worker nodes", "Load balancers", "kube-apiserver", "etcd",
)  # fmt: skip
"""The English words quoted in error hints."""

# --- components --------------------------------------------------------------------------------

COMPONENTS: tuple[str, ...] = (
    "kube-apiserver", "etcd", "kubelet", "kube-scheduler", "kube-controller-manager",
    "kube-proxy", "nodeport", "kubelet-read-only",
)  # fmt: skip

COMPONENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        # Most specific first: "Read-only Kubelet API" is not the kubelet API, and
        # "etcd server client API" is not the API server.
        ("kubelet-read-only", r"read[- ]?only.*kubelet|kubelet.*read[- ]?only"),
        ("etcd", r"\betcd\b"),
        ("kubelet", r"kubelet"),
        ("kube-scheduler", r"kube-?scheduler"),
        ("kube-controller-manager", r"kube-?controller-?manager"),
        ("kube-proxy", r"kube-?proxy"),
        ("nodeport", r"node\s?port|노드포트"),
        ("kube-apiserver", r"kube-?apiserver|(?:kubernetes|k8s|쿠버네티스)\s*api|api.*kubernetes"),
    )
)
"""How a row's Purpose cell names a Kubernetes component (component names stay in English in
every translation, so the patterns are few). Unmatched purposes have no component."""

IMPLIED_USED_BY: Mapping[str | None, tuple[str, ...]] = MappingProxyType(
    {
        "kube-apiserver": ("any",),
        "nodeport": ("any",),
        "etcd": ("component:kube-apiserver", "component:etcd"),
        "kubelet": ("self", "role:control-plane"),
        "kube-scheduler": ("self",),
        "kube-controller-manager": ("self",),
        "kube-proxy": ("self", "load-balancers"),
        "kubelet-read-only": ("self",),
        None: ("self",),
    }
)
"""Peers given to rows of old four-column tables (no "Used by" column), by component: what the
current upstream table says for the same component, and the narrowest peer (``self``) for
anything else, retired ports included."""


# --- column headers ----------------------------------------------------------------------------

COLUMN_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "protocol": ("protocol", "protocols", "proto"),
        "ports": ("port", "ports", "port range", "port ranges", "port number"),
        "port_protocol": (
            "port/protocol", "port / protocol", "ports/protocol", "port range / protocol",
            "port range/protocol", "protocol/port", "protocol / port", "port and protocol",
        ),
        "direction": ("direction", "ingress/egress", "inbound/outbound", "traffic direction"),
        "connection": ("connection type", "connection"),
        "purpose": ("purpose", "description", "configuration", "used for"),
        "source": ("source", "sources", "used by", "source/destination", "from", "peer"),
        "hosts": ("host", "hosts", "destination", "destinations", "target", "applies to"),
    }
)  # fmt: skip
"""Header words of upstream requirement tables whose columns are not in the Kubernetes order
(Calico's ``Configuration | Host(s) | Connection type | Port/protocol``, Cilium's ``Port Range /
Protocol | Ingress/Egress | Source/Destination | Description``, K3s's and RKE2's ``Protocol |
Port | Source | Destination | Description``). A table whose header names its columns with these
words is read by header; any other table by position."""

CONNECTION_TYPES: Mapping[Direction, tuple[str, ...]] = MappingProxyType(
    {
        Direction.INGRESS: ("bidirectional", "incoming", "inbound", "ingress", "both"),
        Direction.EGRESS: ("outgoing", "outbound", "egress"),
    }
)
"""A "Connection type" cell. *Bidirectional* between hosts is read as each host accepting the
others (cloud firewalls are stateful, so replies need no rule)."""

NODE_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "*": (
            "all", "all nodes", "all hosts", "all machines", "every node", "any node",
            "all rke2 nodes", "all k3s nodes", "all cluster nodes",
            # Typha runs as a deployment that may land on any node.
            "typha agent hosts", "typha hosts",
        ),
        "control-plane": (
            "server", "servers", "server nodes", "server node", "rke2 server nodes",
            "k3s servers", "k3s server nodes", "kube-apiserver host", "kube-apiserver hosts",
            "api server host", "api server hosts",
            # etcd runs on the control plane unless the config says etcd: external, which then
            # moves rows of the etcd component to role etcd.
            "etcd hosts", "etcd host", "etcd nodes",
            *ROLE_HEADINGS["control-plane"],
        ),
        "worker": (
            "agent", "agents", "agent nodes", "agent node", "rke2 agent nodes", "k3s agents",
            *ROLE_HEADINGS["worker"],
        ),
    }
)  # fmt: skip
"""Words of a Host(s), Destination or Source cell that name a group of Kubernetes nodes: ``*``
is every node (the control plane and the workers). In a Source cell, the "Used by" words are
tried first, so a bare ``All`` there still means the config's ``sources.all``."""

HEADING_NOISE: tuple[str, ...] = ("rules", "rule", "inbound rules", "firewall rules")
"""Trailing words of upstream section titles that do not name a role (``Master Nodes Rules``)."""

CONDITION_HEADERS: frozenset[str] = frozenset({"when", "only when", "condition", "if"})
"""Header words of the column that says under which catalog options a row applies (after the
five positional columns; see :mod:`portsync.catalog.options`)."""


# --- normalisation -----------------------------------------------------------------------------

_PLURAL_MARK = re.compile(r"\(\s*s\s*\)|（\s*s\s*）", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_\s]+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def phrase_key(text: str) -> str:
    """Return the comparison key of a word or phrase.

    Args:
        text: a cell, heading or vocabulary entry.

    Returns:
        The key: NFKC, case-folded, ``(s)`` removed, hyphens/underscores/whitespace collapsed to
        one space, trailing ``.:;`` dropped.

    Raises:
        Nothing; any string has a key (possibly empty).
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = _PLURAL_MARK.sub("", text)
    return _SEPARATORS.sub(" ", text).strip(" .:;")


def loose_key(key: str) -> str:
    """Return ``key`` with a plural ``s`` dropped from each word longer than three letters.

    Args:
        key: a key from :func:`phrase_key`.

    Returns:
        The loose key, so ``application servers`` and ``application server`` compare equal.

    Raises:
        Nothing.
    """
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in key.split(" "))


def lookup_keys(text: str) -> tuple[str, str, str]:
    """The keys a phrase is looked up by, strictest first: exact, loose, loose without spaces.

    Args:
        text: a phrase.

    Returns:
        ``(phrase_key, loose_key, loose_key without spaces)``.

    Raises:
        Nothing.
    """
    key = phrase_key(text)
    loose = loose_key(key)
    return key, loose, loose.replace(" ", "")


_Symbol = TypeVar("_Symbol")


def build_lookup(table: Mapping[_Symbol, Iterable[str]]) -> dict[str, _Symbol]:
    """Index vocabulary phrases by key, loose key and space-free loose key.

    Exact keys win over loose ones, so no phrase is shadowed by another's plural form.

    Args:
        table: symbol → phrases.

    Returns:
        key → symbol.

    Raises:
        ValueError: two symbols claim the same exact phrase.
    """
    exact: dict[str, _Symbol] = {}
    for symbol, phrases in table.items():
        for phrase in phrases:
            key = phrase_key(phrase)
            if exact.setdefault(key, symbol) != symbol:
                raise ValueError(f"{phrase!r} means both {exact[key]!r} and {symbol!r}")
    lookup = dict(exact)
    for key, symbol in exact.items():
        for variant in lookup_keys(key)[1:]:
            lookup.setdefault(variant, symbol)
    return lookup
