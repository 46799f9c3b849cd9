"""Annotate a file of texts with any pipeline (an installed package or a folder): a file in, a file out.

    python -m scripts.annotate MODEL INPUT OUTPUT [--engine local|ray] [--batch-size N] [--n-process N]
        [--gpu-id N] [--strict] [--resume] [--sentences] [--ray-address ADDRESS] [--input-format txt|jsonl]
        [--code FILE] [--precision P]

One job a module (the loaded pipeline that answers chunks of Items, the Annotator, is in scripts/answering/):
- lines: input lines to Items, and errors that name file:line;
- engines: one process, a pool of worker processes, or Ray Data actors, each running an Annotator;
- resume: where a partly written output picks up;
- run: `annotate()`, which reads, sends chunks to an engine and writes, and its Summary;
- __main__: the command line;
- texts: a stream of invented short texts (tests and measure);
- measure: `python -m scripts.annotate.measure`, memory and texts/s over long streams (docs/annotate.md).
"""
