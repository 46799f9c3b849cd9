"""Annotate a file of texts with any pipeline (an installed package or a folder): a file in, a file out.

    python -m scripts.annotate MODEL INPUT OUTPUT [--engine local|ray] [--batch-size N] [--n-process N]
        [--gpu-id N] [--strict] [--resume] [--sentences] [--ray-address ADDRESS] [--input-format txt|jsonl]
        [--code FILE] [--precision P]

One job a module:
- lines: input lines to Items (and errors that name file:line), Docs and errors to output lines;
- annotator: the loaded pipeline (after --code) that turns chunks of Items into output lines in
  memory zones, so memory stays flat over any number of texts;
- engines: one process, a pool of worker processes, or Ray Data actors, each running an Annotator;
- resume: where a partly written output picks up;
- run: `annotate()`, which reads, sends chunks to an engine and writes, and its Summary;
- __main__: the command line;
- texts: a stream of invented short texts (tests and measure);
- measure: `python -m scripts.annotate.measure`, memory and texts/s over long streams (docs/annotate.md).
"""
