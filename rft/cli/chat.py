"""`rft chat`: one prompt to a trained model (or a base model), streamed as it is written."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rft.cli import inference
from rft.cli.common import GatewayOption, Scope, print_json, say, scoped, shown


@scoped
def chat(
    model: Annotated[str, typer.Argument(help="A trained model's name or alias, or a base model id.")],
    prompt: Annotated[str, typer.Argument(help="The user message; '-' reads it from stdin.")],
    system: Annotated[str | None, typer.Option("--system", "-s", help="A system prompt.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens in the answer.")] = 1024,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.")] = 0.7,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print the answer as it arrives.")
    ] = True,
    gateway: GatewayOption = False,
    *,
    scope: Scope,
) -> None:
    """Send one prompt to a model through the right API: Mantle chat completions (streamed) for
    Mantle models, bedrock-runtime ConverseStream for Bedrock deployments; with --gateway, through
    the environment's OpenAI-compatible gateway as an application would.

    Example: rft chat gsm8k-v1 "A robe takes 2 bolts of blue fiber and half that much white. How many bolts?"
    """
    text = sys.stdin.read() if prompt == "-" else prompt
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    deployed = inference.needs_deployment(model, gateway=gateway)
    target = inference.choose(scope.environment(deployed=deployed), model, gateway=gateway)
    sampling = inference.Sampling(max_tokens=max_tokens, temperature=temperature)
    if scope.json or not stream:
        answer = target.complete(messages, sampling)[0]
        if scope.json:
            print_json(
                {
                    "model": model,
                    "resolved": target.label,
                    "provider": target.provider,
                    "text": answer.text,
                    "finish_reason": answer.finish_reason,
                    "usage": answer.usage,
                }
            )
        else:
            typer.echo(answer.text)
        return
    say(f"[dim]{shown(target.label)}[/]")
    for piece in target.stream(messages, sampling):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
