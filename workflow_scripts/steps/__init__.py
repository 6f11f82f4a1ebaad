"""Step scripts: one per rule, run by Snakemake (`script:`); a package so that a deployed
module's fetched script can import its _bootstrap from the installed package."""
