"""Start a parameter-server job on this machine: 1 scheduler, N servers, M workers.

    python tools/launch_local.py -n 2 -s 1 -- python train.py --kvstore dist_sync ...

Every process listens on the loopback address only. The scheduler and the servers are
MXNet itself (``import mxnet`` with ``DMLC_ROLE=scheduler|server`` runs them); the workers
run the command after ``--`` with ``DMLC_ROLE=worker``. All of them get ``DMLC_PS_ROOT_URI``
/ ``DMLC_PS_ROOT_PORT`` (the scheduler's address, a free port unless ``--port``),
``DMLC_NUM_SERVER``, ``DMLC_NUM_WORKER`` and ``DMLC_NODE_HOST``.

Output is forwarded line by line with a prefix (``[worker#1]``: the launch order; the rank
ps-lite gives a worker is its own and is printed by train.py). When a process fails (a
worker exits non-zero or is killed, or the scheduler or a server stops before the workers
are done) the launcher says which, stops all the others and exits non-zero: the status of
the failed worker, or 128 + the signal that killed it. ``--timeout`` bounds the whole job.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

ROLE_COMMAND = 'import mxnet'  # MXNet runs a scheduler or server when imported as one


def free_port(host='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def job_env(role, port, num_workers, num_servers, host='127.0.0.1', base=None):
    """The environment of one process of the job (``role``: scheduler, server or worker)."""
    env = dict(os.environ if base is None else base)
    env.update(DMLC_ROLE=role, DMLC_PS_ROOT_URI=host, DMLC_PS_ROOT_PORT=str(port),
               DMLC_NUM_WORKER=str(num_workers), DMLC_NUM_SERVER=str(num_servers),
               DMLC_NODE_HOST=host, PYTHONUNBUFFERED='1')
    if not env.get('OMP_NUM_THREADS'):  # the workers share this machine's cores
        cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 1
        env['OMP_NUM_THREADS'] = str(max(1, cores // num_workers) if role == 'worker' else 1)
    return env


def describe_exit(code):
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = 'signal %d' % -code
        return 'was killed by %s' % name
    return 'exited with status %d' % code


class Job(object):
    """The processes of one job, supervised (see the module notes)."""

    def __init__(self, command, num_workers=2, num_servers=1, port=None, host='127.0.0.1',
                 python=sys.executable, grace=10.0, stream=None):
        if num_workers < 1 or num_servers < 1:
            raise ValueError('a job needs at least one worker and one server')
        self.command, self.num_workers, self.num_servers = list(command), num_workers, num_servers
        self.host, self.port = host, port or free_port(host)
        self.python, self.grace = python, grace
        self.stream = stream or sys.stdout
        self.procs = []  # (name, Popen)
        self._threads, self._lock = [], threading.Lock()

    def say(self, message):
        with self._lock:
            self.stream.write('launch_local: %s\n' % message)
            self.stream.flush()

    def _forward(self, name, pipe):
        for raw in iter(pipe.readline, b''):
            line = raw.decode('utf-8', 'replace').rstrip('\r\n')
            with self._lock:
                self.stream.write('[%s] %s\n' % (name, line))
                self.stream.flush()
        pipe.close()

    def _spawn(self, name, role, command):
        env = job_env(role, self.port, self.num_workers, self.num_servers, self.host)
        # its own process group, so that stopping it also stops its data-loading processes
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        thread = threading.Thread(target=self._forward, args=(name, proc.stdout), daemon=True)
        thread.start()
        self.procs.append((name, proc))
        self._threads.append(thread)

    def start(self):
        self.say('scheduler at %s:%d, %d server(s), %d worker(s): %s'
                 % (self.host, self.port, self.num_servers, self.num_workers,
                    ' '.join(self.command)))
        self._spawn('scheduler', 'scheduler', [self.python, '-c', ROLE_COMMAND])
        for i in range(self.num_servers):
            self._spawn('server#%d' % i, 'server', [self.python, '-c', ROLE_COMMAND])
        for i in range(self.num_workers):
            self._spawn('worker#%d' % i, 'worker', self.command)
        self.say('pids: %s' % ', '.join('%s %d' % (n, p.pid) for n, p in self.procs))
        return self

    def workers(self):
        return [(n, p) for n, p in self.procs if n.startswith('worker')]

    def wait(self, timeout=None, interrupted=lambda: None):
        """Supervise until the workers are done or something fails; the exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ended = None
        while True:
            signum = interrupted()
            if signum:
                self.say('interrupted by %s; stopping all processes' % signal.Signals(signum).name)
                self.stop()
                return 128 + signum
            workers = self.workers()
            for name, proc in workers:
                code = proc.poll()
                if code is not None and code != 0:
                    return self._fail(name, proc, code)
            if all(proc.poll() == 0 for _, proc in workers):
                return self._finish()
            for name, proc in self.procs:
                code = proc.poll()
                if name.startswith('worker') or code is None:
                    continue
                # status 0: it passed ps-lite's final barrier with every worker, which are
                # leaving too; anything else is a failure
                if code != 0:
                    return self._fail(name, proc, code, ' before the workers were done')
                ended = ended or time.monotonic()
                if time.monotonic() > ended + self.grace:
                    return self._fail(name, proc, code, ' but the workers did not follow '
                                      'within %g s' % self.grace)
            if deadline is not None and time.monotonic() > deadline:
                self.say('the job ran past --timeout %g s; stopping all processes' % timeout)
                self.stop()
                return 124
            time.sleep(0.1)

    def _fail(self, name, proc, code, when=''):
        others = [n for n, p in self.procs if p is not proc and p.poll() is None]
        self.say('error: %s (pid %d) %s%s; stopping %s'
                 % (name, proc.pid, describe_exit(code), when,
                    ', '.join(others) if others else 'nothing (all others have ended)'))
        self.stop()
        return code if code > 0 else (128 - code if code < 0 else 1)

    def _finish(self):
        """The workers are done: the servers and the scheduler stop by themselves."""
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(p.poll() is None for _, p in self.procs):
            time.sleep(0.1)
        left = [n for n, p in self.procs if p.poll() is None]
        if left:
            self.say('warning: %s still running %g s after the workers finished; stopping them'
                     % (', '.join(left), self.grace))
        self.stop()
        self.say('all %d worker(s) finished' % self.num_workers)
        return 0

    def stop(self):
        """SIGTERM every process group, SIGKILL what is left after the grace period."""
        for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 5.0)):
            for _, proc in self.procs:
                if proc.poll() is not None:  # reaped: its pid (and group id) may be reused
                    continue
                try:
                    os.killpg(proc.pid, sig)  # its group: with its data-loading processes
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(p.poll() is None for _, p in self.procs):
                time.sleep(0.05)
            if all(p.poll() is not None for _, p in self.procs):
                break
        for thread in self._threads:
            thread.join(timeout=2)


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        usage='%(prog)s [-n WORKERS] [-s SERVERS] [options] -- COMMAND [ARGS...]')
    parser.add_argument('-n', '--num-workers', type=int, default=2)
    parser.add_argument('-s', '--num-servers', type=int, default=1)
    parser.add_argument('--port', type=int, default=None,
                        help="the scheduler's port (default: a free one)")
    parser.add_argument('--host', default='127.0.0.1',
                        help='the address every process binds to (default loopback)')
    parser.add_argument('--python', default=sys.executable,
                        help='interpreter for the scheduler and servers (default this one)')
    parser.add_argument('--timeout', type=float, default=None,
                        help='stop everything after this many seconds (exit status 124)')
    parser.add_argument('--grace', type=float, default=10.0,
                        help='seconds between SIGTERM and SIGKILL when stopping processes')
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if '--' not in argv:
        parser.error('give the worker command after --')
    split = argv.index('--')
    args, command = parser.parse_args(argv[:split]), argv[split + 1:]
    if not command:
        parser.error('give the worker command after --')
    if args.num_workers < 1 or args.num_servers < 1:
        parser.error('-n and -s must be at least 1')
    received = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: received.append(signum))
    job = Job(command, args.num_workers, args.num_servers, port=args.port, host=args.host,
              python=args.python, grace=args.grace)
    job.start()
    return job.wait(args.timeout, interrupted=lambda: received[0] if received else None)


if __name__ == '__main__':
    sys.exit(main())
