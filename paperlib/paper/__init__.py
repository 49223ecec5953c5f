"""The replication of Smith (2018), built on the library one folder up.

The library (`paperlib.schedules`, `optim`, `models`, `data`, `engine`, `range_test`, `runs`,
`plots`, ...) knows nothing of the paper's figures; this subpackage holds what does: the runs of
each figure and the profiles that scale them (`profiles`), a figure's runs over its seeds
(`replicate`), the work ahead and its wall time (`estimate`), the paper's claims and the
verdicts on them (`claims`), how many runs decide each claim (`plan`), the HTML page of a
profile's results (`report`), and what every notebook shares (`notebook`, `folders`).
"""
