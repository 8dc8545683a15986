"""Cluster set-up: the SLURM profile written into the user's Snakemake config folder, and its placeholder check."""
