"""A loaded pipeline answering texts, the same way wherever it runs: annotate's engines, serve and its load test.

- project_code: the functions a model's config names, imported once a process (the project's own module or
  a --code file), and the path a local Ray's workers import them from;
- records: an input record (Item) in, its answer line out (`doc_result`, `error_result`);
- annotator: `load_pipeline` and the Annotator, which answers chunks of Items in memory zones, so memory
  stays flat over any number of texts.
"""
