"""Record dataclasses and enums of every store, re-exported from `ironstore`."""

from __future__ import annotations

from . import (
    conversations,
    jobs,
    routines,
    sandbox,
    secrets,
    sessions,
    settings,
    tool_failures,
    workspace,
)
from .conversations import *
from .jobs import *
from .routines import *
from .sandbox import *
from .secrets import *
from .sessions import *
from .settings import *
from .tool_failures import *
from .workspace import *

# `+=` of each module's `__all__`: the form type checkers follow for re-exports
__all__: list[str] = []
__all__ += conversations.__all__
__all__ += jobs.__all__
__all__ += routines.__all__
__all__ += sandbox.__all__
__all__ += sessions.__all__
__all__ += settings.__all__
__all__ += tool_failures.__all__
__all__ += workspace.__all__
__all__ += secrets.__all__
