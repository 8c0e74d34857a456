"""`similar models`: list, prepare (export for fast CPU encoding) and train embedding models."""

from __future__ import annotations

import click


@click.group()
def models():
    """Embedding models: list, prepare (export for fast CPU encoding), train."""


@models.command("list")
def models_list():
    """Models that build can use: the default (prepared copy, else the packaged one) and folders in SIMILAR_HOME/models."""
    from .. import store
    from ..encoders import DEFAULT_MODEL, ModelUnavailable, resolve_model

    shown = set()
    try:
        spec = resolve_model(DEFAULT_MODEL)
        click.echo(f"{DEFAULT_MODEL}\t{spec.backend}\t{spec.path}")
        shown.add(spec.path.resolve())
    except ModelUnavailable as exc:
        click.echo(f"{DEFAULT_MODEL}\tunavailable\t{exc}")
    root = store.models_dir()
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        if folder.resolve() in shown:
            continue
        kind = "openvino" if (folder / "openvino").is_dir() else "torch"
        click.echo(f"{folder.name}\t{kind}\t{folder}")


@models.command("prepare")
@click.option("--backend", type=click.Choice(["openvino"]), default="openvino", show_default=True)
@click.option("--model", "name", default=None, help="Model name (default all-MiniLM-L6-v2).")
@click.option("--force", is_flag=True, help="Export again even if an export exists.")
@click.option(
    "--int8",
    is_flag=True,
    help="Also quantize the export to int8 with NNCF (pip install 'similar[int8]'): openvino/model-int8.xml, "
    "used only when asked for (backend openvino-int8).",
)
@click.option(
    "--calibration",
    default="../shared/data/ohsumed/abstracts.jsonl.gz",
    show_default=True,
    help="JSONL(.gz) of title/abstract records for int8 calibration (300 texts); not a benchmark corpus.",
)
def models_prepare(backend, name, force, int8, calibration):
    """Export the model once for fast CPU encoding; build and query use the export when present."""
    from ..openvino_export import prepare_openvino

    info = prepare_openvino(name, force=force, int8=int8, calibration=calibration)
    if info.get("exported", True):
        click.echo(
            f"prepared {info['dest']}: OpenVINO {info['openvino']} export of {info['source']} (fingerprint {info['fingerprint']})"
        )
        if int8:
            q = info["int8"]
            click.echo(f"int8: {q['file']} (NNCF {q['nncf']}, {q['calibration_texts']} texts of {q['calibration']})")
    else:
        click.echo(
            f"already prepared {info['dest']} (fingerprint {info['fingerprint']}): nothing exported; --force exports again"
        )


@models.command("train")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON lines with title and abstract.",
)
@click.option(
    "--exclude",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Benchmark corpora: papers in them are never trained on.",
)
@click.option("--name", default="minilm-ohsumed", show_default=True, help="Folder under models/.")
@click.option("--base", default=None, help="Model to start from (default all-MiniLM-L6-v2).")
@click.option("--epochs", default=1, show_default=True, type=int)
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--lr", default=2e-5, show_default=True, type=float)
@click.option("--max-pairs", default=None, type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--pairing", type=click.Choice(["title-abstract", "halves"]), default="title-abstract", show_default=True)
def models_train(data, exclude, name, base, epochs, batch_size, lr, max_pairs, device, seed, pairing):
    """Adapt the model to biomedical text: title -> abstract pairs, in-batch negatives."""
    from ..training import train_model

    info = train_model(
        data,
        name,
        base=base,
        exclude=exclude,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_pairs=max_pairs,
        device=device,
        seed=seed,
        pairing=pairing,
    )
    click.echo(
        f"trained {info['path']}: {info['pairs']} pairs ({info['excluded_overlap']} excluded as benchmark papers), "
        f"{info['steps']} steps, loss {info['loss_first']:.3f} -> {info['loss_last']:.3f}, {info['seconds']}s"
    )
