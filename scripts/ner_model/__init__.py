"""The model's code: what a trained pipeline's config names, shipped inside its package.

The package step copies these modules flat into the wheel (`spacy package --code` style), where they are
siblings in the model's package: so they import each other relatively and import nothing else from
`scripts`. Training-only code (the corpus reader, the optimizer) is not here: the wheel does not need it.

- hardware: the CPU's kind and what "auto" runs on it
- runtimes: ONNX Runtime and OpenVINO, imported with their telemetry off
- exports: the transformer exported to ONNX, int8 per row or calibrated statically
- runners: the inference copies (fp32 twin, bf16, ONNX Runtime int8, OpenVINO int8-static)
- shim: PrecisionShim, which predicts through a copy and trains in bf16 autocast where asked
- architectures: the registered model, built by construction
- precision: what apps and the project's steps do with a loaded pipeline's precision
"""
