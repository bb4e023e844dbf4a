"""Peak resident memory of the current process, for the stage and floor scripts.

Kept apart (standard library only) so that the floor process imports nothing but highspy.
"""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark (VmHWM; ru_maxrss would also count
    the parent's memory, which Linux carries across fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
