"""The simulator and the demo: a deterministic simulated shop, the scenario generator, the demo's source.

Pure code (no asyncio, no wall clock: time is passed in) except :mod:`daemon.demo.source`, the
demo's live source. The room may import the core (events) and ``correlators`` types; the
composition root (:mod:`daemon.config.compose`) builds the demo daemon, never this room. Import
what you need from its modules (this package loads nothing, so ``demo --help`` stays quick):

>>> from daemon.demo.shop import DemoShop
>>> shop = DemoShop.live(seed=0, start=1_790_000_000.0)        # what ``make run`` shows
>>> warm_up = shop.history(60)                                 # 15 quiet minutes for the detectors
>>> tick = shop.tick(1_790_000_000.0)                          # samples, probes, changes of one step
>>> sorted({s.signal for s in tick.samples})
['error_ratio', 'latency_p99_seconds', 'request_rate']

Scenario folders: ``write_scenario(dir, seed, ["bad_deploy"], hours=6, step=30)`` or
``whatchanged simulate --out DIR --count 16``.
"""
