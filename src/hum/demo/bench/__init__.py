"""`hum bench`: the hot path and growth measures of a real humd, each beside its baseline, in one run."""
