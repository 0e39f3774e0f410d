"""Runs inside a hosted strategy's process: apply its resource limits, then run its entrypoint.

Invoked as `python -I -u bootstrap.py <limits json> <entrypoint>` with the strategy's project as
the working directory. The limits are set here, before any user code, with soft = hard (an
unprivileged process can never raise them again). Standard library only: this file is not
imported as part of the `services` package.
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import sys

MEMORY_EXIT = 86  # the supervisor reads this exit code as "memory limit exceeded"


def apply_limits(limits: dict[str, int]) -> None:
    memory = limits["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    # SIGXCPU at the soft limit (terminates: Python installs no handler), SIGKILL one second later.
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    limits, entrypoint = json.loads(sys.argv[1]), sys.argv[2]
    apply_limits(limits)
    sys.argv = [entrypoint]
    sys.path.insert(0, os.getcwd())  # the project's own modules import as in `python entry.py`
    try:
        runpy.run_path(entrypoint, run_name="__main__")
    except MemoryError:
        os.write(2, b"strategy: memory limit exceeded (MemoryError)\n")
        os._exit(MEMORY_EXIT)


if __name__ == "__main__":
    main()
