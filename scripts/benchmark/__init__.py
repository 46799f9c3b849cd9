"""`python -m scripts.benchmark`: words per second of our pipeline against plain Hugging Face,
and against what the hardware allows.

Offline: a randomly initialised DistilBERT with distilbert-base-uncased's shape (speed depends on
the shape only) goes into the project's own config, and every system runs on the same generated
sentences (CoNLL-2003 train sentence lengths), the same batches and the same thread count:

  inference  spacy        nlp.pipe of the pipeline in configs/distilbert_ner.cfg, as shipped: it
                          buffers nlp.batch_size Docs, the transformer sorts them by length into
                          forward batches of at most max_batch_items padded words and runs them in
                          its inference_precision ("auto": the CPU kind's choice; the JSON says which)
             spacy-fp32, spacy-int8, spacy-bf16   the same in each precision, one setting away
                          (bf16 only on CPUs with native bf16), so "auto" can be checked per CPU kind
             spacy-same-batches   fp32, fed the other systems' batches: the pipeline's own overhead
             hf           the notebook's path done well: fast tokenizer (is_split_into_words),
                          one batched AutoModelForTokenClassification forward, argmax of each
                          word's first piece, under torch.inference_mode
             hf-sorted    hf fed the length-sorted batches the shipped pipeline makes (same buffer,
                          same max_batch_items): the fair baseline, so a lead is more than sorting
             hf-pipeline  transformers.pipeline("token-classification") on the joined sentences
  training   spacy        nlp.update on Examples with gold entities, the config's Adam
             hf           an HF-Trainer-style loop: forward with labels, backward, clip, AdamW
                          (torch's default AdamW, as the Trainer's default "adamw_torch" makes it)

Every measurement runs in its own fresh process, so its peak memory (peak RSS, or peak CUDA memory
on a GPU) is its own. The ceiling is the fastest measured GEMM this machine does (torch.matmul in fp32,
and bf16 where native; on a CPU also int8 u8 x s8, the kernel the int8 path runs: ONNX Runtime's
MatMulInteger; fp16 and bf16 on a GPU) divided by the model's FLOPs per word
(see `ceiling.flops_per_sequence`). Ratios to `hf` and `hf-sorted` and the issue's targets are in
the table and the JSON, with the CPU's model name and flags and torch's thread count.

`python -m scripts.benchmark.accuracy` trains the reference notebook's recipe and the project's on real
data and a real encoder and scores both per epoch (docs/accuracy.md); `python -m scripts.benchmark.precision_bars`
measures both accuracy bars and the speed of each precision on a trained pipeline (docs/precision.md).
`python -m scripts.benchmark.agreement` trains the same pipeline briefly and reports, per precision,
tag agreement with fp32 and F1 (`agreement`). `python -m scripts.benchmark.profile` splits the two
training steps into forward, backward, clipping and optimizer (`profile`). `python -m scripts.benchmark.forward`
times the transformer alone in each precision against the same ceiling, with its top operators (`forward`).

Modules: `ceiling` (FLOPs and the GEMM probe), `inputs` (text, the random model, a trained pipeline in a
precision), `systems` (what is measured, one system per child process), `report` (ratios, targets, table),
`__main__` (the CLI that runs them all), `agreement` (accuracy per precision on a trained model), `profile`
(where a training step's time goes), `forward` (the transformer alone per precision: the most of the
ceiling a pipeline on these kernels could reach), `accuracy` (the notebook's recipe against the project's),
`precision_bars` (both bars per precision). Tools behind single figures of docs/: `same_entities`
(the same-entities checks on a trained pipeline), `pipeline_share` (the pipeline's time besides the forward
pass), `batch_shapes` (the forward batches' distinct shapes), `openvino_shapes` (what a new batch shape
costs int8-static).
"""
