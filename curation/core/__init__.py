"""The shared kernel of every stage: config and flags, the stage runner, I/O, schema, stats, executor, plots."""
