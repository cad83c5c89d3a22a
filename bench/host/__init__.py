"""The host: facts and handles of this machine and process (inner threads, the MPI launch, scratch
folders, provenance, CPU load, Slurm's commands) and the plug-in registry; imports nothing of the suite."""
