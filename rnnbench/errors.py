"""Exceptions rnnbench raises; each message names the thing that is wrong."""


class RnnbenchError(Exception):
    """Base of every rnnbench error."""


class InputError(RnnbenchError, ValueError):
    """An array of the wrong shape, dtype or value was handed to a backend."""


class UnsupportedError(RnnbenchError, NotImplementedError):
    """A backend was asked for a dtype, activation, device or feature it does not declare."""


class UnknownBackendError(RnnbenchError, LookupError):
    """No backend is registered under that name."""


class BackendUnavailableError(RnnbenchError, ImportError):
    """A backend is known but cannot run here (its framework is missing, or it fails to load)."""


class FrameworkMissingError(BackendUnavailableError):
    """What a backend needs is absent here: its framework is not installed, or the device
    asked for does not exist. The conformance kit skips such a backend; any other failure to
    load is a failure."""


class BackendNameClashError(BackendUnavailableError):
    """Two installed targets claim one backend name (a built-in and an entry point, or two
    entry points): rnnbench will not pick one, so asking for that name is an error."""


class BackendFaultError(RnnbenchError):
    """A backend misbehaved while a command ran it. The command records it as that backend's
    failure (a "failed" status row) and goes on with the others."""


class OutputError(BackendFaultError):
    """What a backend returned breaks the contract: not its native array, or the wrong
    shape, dtype or device; or it changed its inputs in place."""


class CallTimeoutError(BackendFaultError):
    """One call into a backend ran past the per-call time limit (``--call-timeout``)."""


class BackendExitError(BackendFaultError):
    """A backend raised SystemExit (called ``sys.exit``) instead of returning."""
