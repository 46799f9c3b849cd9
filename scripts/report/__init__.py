"""One HTML page to look at after a run: the training curve, P/R/F per entity type from both scorers,
and where the errors are, drawn from the files the run wrote (no model, no GPU).

`python -m scripts.report --training-dir training --corpus-dir corpus --metrics-dir metrics
--output metrics/report.html` writes the page, with its pictures embedded, and the same pictures
beside it as PNGs (report_training.png, report_per_type.png, report_errors.png for report.html).
Each section stands alone: an input that is missing or unreadable leaves a notice naming it in
that section and in a list at the top, not a traceback, and the exit status stays 0.

One job a module: page (inputs, the HTML template page.html, tables, pictures, build_report),
training (the curve), per_type (P/R/F per type), confusion (the error table and displaCy's examples),
__main__ (the command line).
"""
