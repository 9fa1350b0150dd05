"""A deterministic simulated shop: the daemon's built-in demo and a scenario generator.

Pure code: no asyncio and no wall clock; time is passed in.
"""

from daemon.demo.incidents import INCIDENT_KINDS, Incident
from daemon.demo.shop import AutoSchedule, DemoShop, DemoTick, NoiseSettings
from daemon.demo.topology import default_services, random_topology

__all__ = [
    "INCIDENT_KINDS",
    "AutoSchedule",
    "DemoShop",
    "DemoTick",
    "Incident",
    "NoiseSettings",
    "default_services",
    "random_topology",
]
