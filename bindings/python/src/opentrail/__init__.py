"""OpenTrail: embed the CloudTrail-compatible audit-trail agent in a Python process.

    import opentrail

    with opentrail.Agent(config_toml) as agent:      # TOML text, or a dict with the same keys
        agent.submit({"eventVersion": "1.08", ...})  # bytes, str or dict; one CloudTrail record
        agent.submit_many(json_lines_bytes)           # returns how many were accepted
        agent.flush()                                 # delivered once this returns
        print(agent.stats())

Errors are `OpenTrailError` subclasses: `InvalidRecord` (any refused record), `Busy`, `Closed`,
`ConfigError`, ... each with the C `status` code. The bindings call the C ABI (libopentrail_ffi,
bundled at install time) through ctypes, which releases the GIL during every call.
"""

from ._agent import Agent, Record
from ._errors import (
    Busy,
    Closed,
    ConfigError,
    DestinationError,
    InternalError,
    IntakeError,
    InvalidRecord,
    OpenTrailError,
    Panic,
    Poisoned,
    SpoolError,
    Timeout,
    UsageError,
)
from ._ffi import ABI_VERSION, Status, library_version, status_str

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION",
    "Agent",
    "Busy",
    "Closed",
    "ConfigError",
    "DestinationError",
    "IntakeError",
    "InternalError",
    "InvalidRecord",
    "OpenTrailError",
    "Panic",
    "Poisoned",
    "Record",
    "SpoolError",
    "Status",
    "Timeout",
    "UsageError",
    "library_version",
    "status_str",
]
