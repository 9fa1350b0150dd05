"""A deterministic simulated shop: the daemon's built-in demo and a scenario generator.

Pure code: no asyncio and no wall clock; time is passed in.

>>> shop = DemoShop.live(seed=0, start=1_790_000_000.0)        # what ``make run`` shows
>>> warm_up = shop.history(60)                                 # 15 quiet minutes for the detectors
>>> tick = shop.tick(1_790_000_000.0)                          # samples, probes, changes of one step
>>> sorted({s.signal for s in tick.samples})
['error_ratio', 'latency_p99_seconds', 'request_rate']

Scenario folders: ``write_scenario(dir, seed, ["bad_deploy"], hours=6, step=30)`` or
``whatchanged simulate --out DIR --count 16``.
"""

from daemon.demo.incidents import INCIDENT_KINDS, SYMPTOMS, Incident
from daemon.demo.scenario import SCENARIO_KINDS, ScenarioSpec, write_scenario, write_set
from daemon.demo.shop import AutoSchedule, DemoShop, DemoTick, NoiseSettings
from daemon.demo.topology import default_services, random_topology

__all__ = [
    "INCIDENT_KINDS",
    "SCENARIO_KINDS",
    "SYMPTOMS",
    "AutoSchedule",
    "DemoShop",
    "DemoTick",
    "Incident",
    "NoiseSettings",
    "ScenarioSpec",
    "default_services",
    "random_topology",
    "write_scenario",
    "write_set",
]
