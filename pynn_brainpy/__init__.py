"""pynn_brainpy: a PyNN 0.13 simulator backend on JAX and brainstate.

``import pynn_brainpy as sim`` gives PyNN's API (setup, Population, Projection, run, ...);
the network runs as one compiled JAX program on CPU or GPU and results come back as Neo blocks.
"""

from ._xla_flags import request_device_loops
from .engine import warmup

request_device_loops()   # before any computation starts JAX's backends
# a first run's native code compiles in a second process while PyNN and JAX are imported
warmup.start()


from pyNN import errors, random, space                                   # noqa: F401
from pyNN.connectors import *                                            # noqa: F401,F403
from pyNN.network import Network                                         # noqa: F401
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution            # noqa: F401
from pyNN.recording import *                                             # noqa: F401,F403
from pyNN.space import Space                                             # noqa: F401
from pyNN.standardmodels import StandardCellType

from ._cpu_pool import use_cpu_threads                                 # noqa: F401
from .control import (end, get_current_time, get_max_delay, get_min_delay,  # noqa: F401
                      get_time_step, initialize, num_processes, rank, reset, run, run_for,
                      run_until, setup)
from .populations import Assembly, Population, PopulationView            # noqa: F401
from .procedural_api import (connect, create, record, record_gsyn,  # noqa: F401
                             record_v, set)
from .projections import Projection                                      # noqa: F401
from .random import NativeRNG                                            # noqa: F401
from .standardmodels.cells import GLIF_cond, native_cell_type            # noqa: F401
from .standardmodels.cells_adaptive import *                             # noqa: F401,F403
from .standardmodels.cells_iaf import *                                  # noqa: F401,F403
from .standardmodels.composed import *                                   # noqa: F401,F403
from .standardmodels.electrodes import (ACSource, DCSource,                # noqa: F401
                                        NoisyCurrentSource, StepCurrentSource)
from .standardmodels.sources import SpikeSourceArray, SpikeSourcePoisson  # noqa: F401
from .standardmodels.sources_stochastic import *                        # noqa: F401,F403
from .standardmodels.synapses import *                                   # noqa: F401,F403

__version__ = "0.1.0"


def list_standard_models():
    """The names of the standard cell types this backend provides."""
    return [name for name, obj in globals().items()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)]
