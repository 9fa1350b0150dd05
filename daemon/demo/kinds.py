"""The demo's incident kinds in words, in the order it injects them.

Plain data, importable without numpy: ``whatchanged demo --help`` lists them, the demo narrates with
them, and a test keeps them equal to :data:`daemon.demo.incidents.INCIDENT_KINDS`.
"""

__all__ = ["DEMO_KINDS"]

DEMO_KINDS = (
    ("bad_deploy", "a bad deploy"),
    ("dependency_down", "a dependency outage"),
    ("traffic_spike", "a traffic spike"),
    ("bad_config", "a bad config"),
    ("bad_flag", "a bad feature flag"),
    ("slow_creep", "a slow creep (a leaky release)"),
    ("callee_deploy", "a bad deploy of a called service"),
)
