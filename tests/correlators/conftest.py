import pytest

from correlators.types import Topology

from .builders import shop


@pytest.fixture
def topo() -> Topology:
    return shop()
