"""Reports and views of verdicts: the JSON report and summary table, the terminal view of one encoding, the
HTML label report, the version matrix, and the snapshot format.
"""
