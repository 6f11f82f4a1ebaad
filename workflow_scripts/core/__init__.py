"""Infrastructure every stage uses: errors, config, files, job glue, the results tree."""
