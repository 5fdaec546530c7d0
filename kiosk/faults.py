"""Named crash points in the key and gallery operations, for the crash tests.

A test sets FACEGATE_FAULT to a point's name and the process dies there at once (exit 137, as if
killed), with no cleanup, no flush and no exception handler run; the test then proves the store
still opens with the key file and that running the operation again completes it.
"""

import os

FAULT_ENV = "FACEGATE_FAULT"


def crash_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os._exit(137)
