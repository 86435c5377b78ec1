"""What every command line shares: option declarations and their one validation
(``options``), devices from ``--gpus``/``--cpus`` (``devices``) and the network a command
asks for with its weights (``loading``)."""
