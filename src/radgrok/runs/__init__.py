"""The bottom layer: what a run is and what it leaves behind. The config schema, the run
directory's files and their statuses, the recorder that writes them, the grok step, and the one
way of saying grok steps. Imports nothing of radgrok above it; torch only where a checkpoint is
written or read."""
