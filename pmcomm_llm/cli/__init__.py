"""The ``pmcomm`` command: the only place that prints or exits."""
