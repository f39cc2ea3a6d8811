"""rnnbench: hold backends of recurrent networks (Elman, LSTM, GRU) to a float64 reference.

Importing rnnbench imports NumPy only; a framework is imported when its backend is built.
"""

from rnnbench.errors import (
    BackendNameClashError,
    BackendUnavailableError,
    FrameworkMissingError,
    InputError,
    RnnbenchError,
    UnknownBackendError,
    UnsupportedError,
)
from rnnbench.interface import Backend, Grads, Inputs, Params
from rnnbench.problems import Problem, ProblemData, make_data
from rnnbench.registry import (
    describe_backend,
    get_backend,
    list_backends,
    load_backend_class,
    register_backend,
    resolve_backend,
    unregister_backend,
)

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendNameClashError",
    "BackendUnavailableError",
    "FrameworkMissingError",
    "Grads",
    "InputError",
    "Inputs",
    "Params",
    "Problem",
    "ProblemData",
    "RnnbenchError",
    "UnknownBackendError",
    "UnsupportedError",
    "__version__",
    "describe_backend",
    "get_backend",
    "list_backends",
    "load_backend_class",
    "make_data",
    "register_backend",
    "resolve_backend",
    "unregister_backend",
]
