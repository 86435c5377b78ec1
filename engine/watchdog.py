"""The one watchdog of every training process: a run that stops moving ends, and says so.

A stuck training step gives nothing to catch: the main thread waits inside MXNet (on an
operator that never finishes, a peer that never answers) and cannot be interrupted. The
:class:`Watchdog` runs a daemon thread beside it. Each phase that must finish is *armed*
(``arm(what)``: every training batch, the batch-norm pass, a distributed worker's joining
and averaging); work that may legitimately take long (validation, checkpoints) *rests* it.
When an armed phase outlives its limit, the watchdog writes one line (who, how long, what
it was doing, and the ``hint``: what probably happened and how to go on) and ends the
process with :data:`EXIT_STALLED`. Checkpoints are written atomically, so the last one is
intact whatever the moment.

The limit is the timeout given, or ``scale`` times the longest interval between two arms
seen so far (the slowest training step), whichever is longer: a run whose steps take
minutes is not cut short by a limit meant for steps of seconds.
"""
import os
import sys
import threading
import time

__all__ = ['Watchdog', 'EXIT_STALLED']

EXIT_STALLED = 4  # the exit status of a run the watchdog ended


class Watchdog(object):
    """Ends the process when the phase armed last is not left within :meth:`limit`.

    ``who`` names the process in the message; ``hint`` (a string, or a function called
    when the watchdog fires) ends it; ``setting`` names the option that sets ``timeout``.
    """

    def __init__(self, timeout, who='training', exit_code=EXIT_STALLED, stream=None,
                 scale=0.0, setting=None):
        self.timeout, self.who, self.exit_code = float(timeout), who, exit_code
        self.scale, self.setting, self.stream = float(scale), setting, stream
        self.hint = ''
        self._lock = threading.Lock()
        self._deadline, self._what, self._armed_at, self._slowest = None, '', None, 0.0
        self._limit = self.timeout
        self._thread = threading.Thread(target=self._watch, name='watchdog', daemon=True)
        self._thread.start()

    def limit(self):
        """Seconds an armed phase may last now."""
        return max(self.timeout, self.scale * self._slowest)

    def arm(self, what):
        """Start (or restart) the clock for the phase ``what``."""
        now = time.monotonic()
        with self._lock:
            if self._armed_at is not None:  # the phase before this one ended now
                self._slowest = max(self._slowest, now - self._armed_at)
            self._armed_at, self._what, self._limit = now, what, self.limit()
            self._deadline = now + self._limit

    def rest(self):
        """Stop the clock (local work of unbounded length follows)."""
        with self._lock:
            self._deadline, self._armed_at = None, None

    def _watch(self):
        while True:
            time.sleep(min(0.5, self.timeout / 4))
            with self._lock:
                expired = self._deadline is not None and time.monotonic() > self._deadline
                what, limit = self._what, self._limit
            if expired:
                self._fire(what, limit)

    def _fire(self, what, limit):
        hint = self.hint() if callable(self.hint) else self.hint
        stream = self.stream or sys.stderr
        stream.write('error: %s: no progress for %g s while %s.%s Stopping (exit status %d)%s.\n'
                     % (self.who, round(limit, 1), what, hint, self.exit_code,
                        '; %s sets this limit' % self.setting if self.setting else ''))
        stream.flush()
        sys.stdout.flush()
        os._exit(self.exit_code)  # the main thread is stuck inside MXNet
