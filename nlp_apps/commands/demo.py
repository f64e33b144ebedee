"""`nlp-apps demo`: the quickstart. The language-model demo, then every installed task's own demo."""

from __future__ import annotations

import click


@click.command()
@click.option("--task", "only", multiple=True, help="Run only this task's demo (repeatable); 'lm' is the language-model demo.")
@click.option("--model", "model_dir", default="default", show_default=True, help="The language model of the LM demo.")
@click.option("--backbone", default="default", show_default=True, help="The backbone the task demos fine-tune.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(only: tuple[str, ...], model_dir: str, backbone: str, seed: int) -> None:
    """Score and continue a text with the shipped backbone, then fine-tune, evaluate and use every
    installed task on its small demo set (each task's `demo` command, with its defaults)."""
    from nlp_apps.commands.lm import demo as lm_demo
    from nlp_apps.registry import get_registry

    registry = get_registry()
    with_demo = [name for name in registry.names() if "demo" in registry.get(name).cli.commands]
    unknown = sorted(set(only) - {"lm", *registry.names()})
    if unknown:
        raise click.BadParameter(f"no installed task named {', '.join(unknown)} (installed: {', '.join(['lm', *registry.names()])})",
                                 param_hint="'--task'")
    ctx = click.get_current_context()
    if not only or "lm" in only:
        click.echo("=== language model")
        ctx.invoke(lm_demo, model_dir=model_dir, seed=seed)
    for name in with_demo:
        if only and name not in only:
            continue
        click.echo(f"\n=== {name}")
        command = registry.get(name).cli.commands["demo"]
        accepted = {param.name for param in command.params}
        options = {key: value for key, value in (("seed", seed), ("backbone", backbone)) if key in accepted}
        ctx.invoke(command, **options)
    without = [name for name in registry.names() if name not in with_demo and (not only or name in only)]
    if without:
        click.echo(f"\n(no demo in: {', '.join(without)})")
