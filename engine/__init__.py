"""The training engine and the evaluation loop.

``trainer`` runs the epochs (data, network, optimizer, resume, selection, export) and talks
to a worker through hooks: ``workers.LocalWorker`` on one machine, ``distributed.ClusterWorker``
as one worker of a parameter-server job. ``step`` is the one training step that training and
the benchmarks share; ``config`` the typed configuration saved as a run's ``args.json``;
``checkpoint`` a run's state (last.json, parameters, optimizer states) and ``history`` its
log; ``evaluation`` scores a network on a split; ``benchmark`` times both.
"""
