"""Record dataclasses and enums of every store, re-exported from `ironstore`."""

from __future__ import annotations

from .conversations import *  # noqa: F403
from .conversations import __all__ as _conversations
from .jobs import *  # noqa: F403
from .jobs import __all__ as _jobs
from .routines import *  # noqa: F403
from .routines import __all__ as _routines
from .sandbox import *  # noqa: F403
from .sandbox import __all__ as _sandbox
from .sessions import *  # noqa: F403
from .sessions import __all__ as _sessions
from .settings import *  # noqa: F403
from .settings import __all__ as _settings
from .tool_failures import *  # noqa: F403
from .tool_failures import __all__ as _tool_failures
from .workspace import *  # noqa: F403
from .workspace import __all__ as _workspace
from .secrets import *  # noqa: F403
from .secrets import __all__ as _secrets

__all__ = [
    *_conversations, *_jobs, *_sandbox, *_routines, *_tool_failures, *_settings,
    *_workspace, *_sessions, *_secrets,
]
