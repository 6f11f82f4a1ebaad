# Assets of source hw9: the homework's 10 images and checkpoint from the first source that works
# (config hw9.*; workflow_scripts/assets/sources/hw9.py).
from workflow_scripts.assets.hw9 import local_fingerprint as hw9_local_fingerprint


rule hw9_bundle:
    """Obtain, verify and install the homework's 10 images and checkpoint (config hw9.*)."""
    output:
        food=directory(P.food_dir(R)),
        checkpoint=P.checkpoint(R),
    log:
        P.log(R, "hw9_bundle"),
    benchmark:
        P.benchmark(R, "hw9_bundle")
    conda:
        SOURCE_ENV
    params:
        code=rule_code("hw9_bundle"),
        hw9=result_config("hw9"),
        # names and content hashes of the files under hw9.local: replacing one
        # reinstalls the bundle
        local_files=hw9_local_fingerprint(config["hw9"]["local"]),
    script:
        step_script("hw9_bundle", depth=2)
