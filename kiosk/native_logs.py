"""Keep native libraries' start-up chatter (absl, TFLite) off the user's terminal.

MediaPipe's C++ core logs several warnings through absl each time a graph is built, before any
Python logging setting can reach it. They say nothing a user can act on, so file descriptor 2 is
pointed at /dev/null while such a graph is built; Python exceptions still carry their messages.
"""

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    if os.environ.get("FACEGATE_NATIVE_LOGS"):  # set it to see them when debugging MediaPipe
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
