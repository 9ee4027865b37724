"""The serving gateway: an OpenAI-compatible `/v1/chat/completions` and `/v1/models` in front of the
models the registry holds for one environment.

`handler.py` is the Lambda entry point (API Gateway HTTP API, payload format 2.0); `chat.py` reads
and checks the OpenAI request; `converse.py` translates it to and from Bedrock's Converse API;
`mantle.py` forwards it to the OpenAI-compatible Mantle endpoint; `registry.py` resolves a model
name or alias; `errors.py` shapes OpenAI-style errors; `metrics.py` writes per-model figures.
"""
