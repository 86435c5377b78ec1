"""One run at a time in a run directory.

``train.py`` holds ``run.lock`` in its run directory with ``flock`` for as long as it runs;
the file says who holds it (pid, host, start time). A second run on the same directory stops
at once and names the holder. The kernel releases the lock when the holder's process ends,
however it ends, so a killed run leaves no lock behind (the file stays, describing it).
``flock`` works across machines only where the shared filesystem supports it (NFS v4 does).
"""
import contextlib
import fcntl
import json
import os
import socket
import time

__all__ = ['LOCK_NAME', 'RunDirectoryError', 'run_directory_lock']

LOCK_NAME = 'run.lock'


class RunDirectoryError(RuntimeError):
    """The run directory is in use by another process, or holds another run."""


@contextlib.contextmanager
def run_directory_lock(run_dir):
    """Hold ``run_dir``'s lock inside the ``with`` block; raises :class:`RunDirectoryError`
    naming the holder when another process has it."""
    path = os.path.join(run_dir, LOCK_NAME)
    handle = open(path, 'a+')  # pylint: disable=consider-using-with
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read())
                who = 'pid %s on host %s since %s' % (holder['pid'], holder['host'],
                                                       holder['since'])
            except (ValueError, KeyError, TypeError):
                who = 'another process (see %s)' % path
            raise RunDirectoryError(
                'run directory %s is in use by %s; wait for that run to end, or choose '
                'another --save-dir' % (run_dir, who)) from None
        handle.seek(0)
        handle.truncate()
        json.dump({'pid': os.getpid(), 'host': socket.gethostname(),
                   'since': time.strftime('%Y-%m-%d %H:%M:%S %z')}, handle)
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock
