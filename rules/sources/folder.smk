# Assets of source folder: your own model and images (config folder.*; README "Explain your own
# model"; workflow_scripts/assets/sources/folder.py). One job checks the model against the images
# and writes the model descriptor and the image manifest; the images stay where they are.
from workflow_scripts.core.errors import UserError

try:  # content hashes of the images, masks and model files: an edit reruns what reads them
    FOLDER_FILES = SOURCE.fingerprint(config)
except UserError as _error:
    raise WorkflowError(str(_error))


rule folder_assets:
    """Check the model (architecture, weights, class count) and list the images and masks."""
    output:
        spec=P.model_spec(R),
        manifest=P.manifest(R),
    log:
        P.log(R, "folder_assets"),
    benchmark:
        P.benchmark(R, "folder_assets")
    conda:
        SOURCE_ENV
    params:
        code=rule_code("folder_assets"),
        folder=result_config("folder"),
        files=FOLDER_FILES,
    script:
        step_script("folder_assets", depth=2)
