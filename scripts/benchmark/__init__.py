"""`python -m scripts.benchmark`: words per second of our pipeline against plain Hugging Face, and against what the hardware allows.

Offline: a randomly initialised DistilBERT with distilbert-base-uncased's shape (speed depends on
the shape only) goes into the project's own config, and every system runs on the same generated
sentences (CoNLL-2003 train sentence lengths), the same batches and the same thread count:

  inference  spacy        nlp.pipe of the pipeline in configs/distilbert_ner.cfg, as shipped: it
                          buffers nlp.batch_size Docs and the transformer sorts them by length into
                          forward batches of at most max_batch_items padded pieces
             spacy-same-batches   the same, but fed the other systems' batches
             hf           the notebook's path done well: fast tokenizer (is_split_into_words),
                          one batched DistilBertForTokenClassification forward, argmax of each
                          word's first piece, under torch.inference_mode
             hf-pipeline  transformers.pipeline("token-classification") on the joined sentences
  training   spacy        nlp.update on Examples with gold entities, the config's Adam
             hf           an HF-Trainer-style loop: forward with labels, backward, clip, AdamW

Every measurement runs in its own fresh process, so its peak memory (peak RSS, or peak CUDA memory
on a GPU) is its own. The ceiling is measured GEMM FLOP/s (torch.matmul, fp32 and bf16 on a CPU,
fp16 and bf16 on a GPU) divided by the model's FLOPs per word (see `ceiling.flops_per_sequence`).

Modules: `ceiling` (FLOPs and the GEMM probe), `inputs` (text and the random model), `systems`
(what is measured, one system per child process), `report` (ratios, targets, table), `__main__`
(the CLI that runs them all).
"""
