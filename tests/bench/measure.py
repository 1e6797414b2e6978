#!/usr/bin/env python3
"""measure.py IN OUT CMD...: runs CMD with stdin from IN and stdout to OUT
(stderr to OUT.err), then prints one line: wall seconds, user+sys CPU
seconds, peak resident memory in KiB (getrusage of the child), exit status.
"""
import os
import resource
import subprocess
import sys
import time


def main():
    src, dst, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(src, "rb") as i, open(dst, "wb") as o, open(dst + ".err", "wb") as e:
        t0 = time.monotonic()
        rc = subprocess.call(cmd, stdin=i, stdout=o, stderr=e)
        wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("%.3f %.3f %d %d" % (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, rc))


if __name__ == "__main__":
    main()
