"""Service graphs for the simulator: the default shop and random DAGs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from correlators.types import ServiceInfo

__all__ = [
    "NAMESPACE",
    "all_dependencies",
    "callers_first_order",
    "default_services",
    "entry_services",
    "random_topology",
]

NAMESPACE = "shop"

_SERVICE_NAMES = (
    "frontend", "checkout", "catalog", "cart", "payments", "inventory", "recommendations", "search",
    "pricing", "shipping", "reviews", "auth", "user-service", "notifications", "orders", "ads",
    "currency", "email", "fraud-check", "loyalty", "tax", "returns", "media", "wishlist",
)
_DEPENDENCY_NAMES = (
    "payments-gateway", "inventory-db", "redis-cache", "auth-idp", "kafka", "search-index",
    "object-store", "smtp-relay", "orders-db", "tax-api",
)


def default_services(namespace: str = NAMESPACE) -> list[ServiceInfo]:
    """The built-in demo shop: seven services and three external dependencies.

    Parameters
    ----------
    namespace
        Kubernetes namespace of every service.

    Returns
    -------
    list of ServiceInfo
        ``frontend`` calls ``checkout``, ``catalog`` and ``recommendations``; ``checkout`` calls
        ``payments`` and ``cart``; ``catalog`` calls ``inventory``.

    Examples
    --------
    >>> [s.name for s in default_services()][:3]
    ['frontend', 'checkout', 'catalog']
    """
    spec: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
        ("frontend", ("checkout", "catalog", "recommendations"), ()),
        ("checkout", ("payments", "cart"), ("payments-gateway",)),
        ("catalog", ("inventory",), ("redis-cache",)),
        ("recommendations", ("catalog",), ()),
        ("payments", (), ("payments-gateway",)),
        ("cart", (), ("redis-cache",)),
        ("inventory", (), ("inventory-db",)),
    ]
    return [ServiceInfo(name, namespace, calls, deps) for name, calls, deps in spec]


def _service_names(n: int) -> list[str]:
    names = list(_SERVICE_NAMES[:n])
    extra = n - len(names)
    pool = len(_SERVICE_NAMES)
    names += [f"{_SERVICE_NAMES[i % pool]}-{i // pool + 2}" for i in range(extra)]
    return names


def _dependency_names(n: int) -> list[str]:
    names = list(_DEPENDENCY_NAMES[:n])
    names += [f"external-{i}" for i in range(len(names), n)]
    return names


def _random_calls(rng: np.random.Generator, n: int) -> list[set[int]]:
    """Callees by index: service ``i`` is called by 1-2 earlier services (so the graph is a DAG).

    Service 0 is the entry; with probability 0.15 service 1 is a second entry (no callers).
    """
    calls: list[set[int]] = [set() for _ in range(n)]
    for i in range(1, n):
        if i == 1 and n > 4 and rng.random() < 0.15:
            continue
        k = 1 if i == 1 or rng.random() < 0.6 else 2
        for caller in rng.choice(i, size=min(k, i), replace=False):
            calls[int(caller)].add(i)
    return calls


def random_topology(
    rng: np.random.Generator, n_services: int, n_dependencies: int, namespace: str = NAMESPACE,
) -> list[ServiceInfo]:
    """A random connected call DAG with external dependencies.

    Parameters
    ----------
    rng
        The generator to draw from (e.g. ``derive_rng(seed, "topology")``).
    n_services
        Number of services, at least 2.
    n_dependencies
        Number of external dependencies, at least 0; each is used by 1-3 services.
    namespace
        Namespace of every service.

    Returns
    -------
    list of ServiceInfo
        In callers-first order; every service but the entries has at least one caller.

    Examples
    --------
    >>> from daemon.demo.randomness import derive_rng
    >>> svcs = random_topology(derive_rng(1, "t"), 8, 3)
    >>> len(svcs), svcs[0].name
    (8, 'frontend')
    """
    if n_services < 2 or n_dependencies < 0:
        raise ValueError("need at least 2 services and 0 dependencies")
    names = _service_names(n_services)
    calls = _random_calls(rng, n_services)
    deps: list[list[str]] = [[] for _ in range(n_services)]
    for dep in _dependency_names(n_dependencies):
        users = rng.choice(np.arange(1, n_services), size=min(int(rng.integers(1, 4)), n_services - 1),
                           replace=False)
        for u in sorted(int(x) for x in users):
            deps[u].append(dep)
    return [
        ServiceInfo(names[i], namespace, tuple(names[j] for j in sorted(calls[i])), tuple(deps[i]))
        for i in range(n_services)
    ]


def entry_services(services: Sequence[ServiceInfo]) -> list[str]:
    """Services nobody calls (where user traffic enters), in the given order.

    Examples
    --------
    >>> entry_services(default_services())
    ['frontend']
    """
    called = {c for s in services for c in s.calls}
    return [s.name for s in services if s.name not in called]


def callers_first_order(services: Sequence[ServiceInfo]) -> list[str]:
    """Service names ordered so that every caller comes before its callees.

    Raises
    ------
    ValueError
        If the call graph has a cycle or calls an unknown service.

    Examples
    --------
    >>> callers_first_order(default_services())[-1] in {"payments", "cart", "inventory"}
    True
    """
    known = {s.name for s in services}
    pending: dict[str, set[str]] = {s.name: set() for s in services}
    for s in services:
        for callee in s.calls:
            if callee not in known:
                raise ValueError(f"{s.name} calls unknown service {callee}")
            pending[callee].add(s.name)
    order: list[str] = []
    ready = [s.name for s in services if not pending[s.name]]
    by_name = {s.name: s for s in services}
    while ready:
        name = ready.pop(0)
        order.append(name)
        for callee in by_name[name].calls:
            pending[callee].discard(name)
            if not pending[callee] and callee not in order and callee not in ready:
                ready.append(callee)
    if len(order) != len(services):
        raise ValueError("the call graph has a cycle")
    return order


def all_dependencies(services: Sequence[ServiceInfo]) -> list[str]:
    """Every external dependency used, in first-use order.

    Examples
    --------
    >>> all_dependencies(default_services())
    ['payments-gateway', 'redis-cache', 'inventory-db']
    """
    seen: dict[str, None] = {}
    for s in services:
        for d in s.dependencies:
            seen.setdefault(d, None)
    return list(seen)
