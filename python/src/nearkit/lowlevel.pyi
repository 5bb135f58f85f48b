# Type stub of nearkit.lowlevel, the module SWIG generates (see bindings/nearkit.i): its functions
# and constants come from the C extension at run time, so to a type checker every name is Any.
# The typed API is the package's (nearkit.Index, ...), not this one.
from typing import Any

def __getattr__(name: str) -> Any: ...
