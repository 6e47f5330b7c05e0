"""`minillm train`: train a registered causal language model on a text (the shipped Shakespeare or
your own file), with checkpoints, a metrics log and a loss plot in out_dir."""

from ..models import MODELS, get_spec, read_manifest
from ..train import TrainConfig, config_from_args, preset_names, stored_train_config, train
from ..train.overrides import describe, parse_cli_overrides

HELP = """usage: minillm train [--preset NAME|FILE.toml] [--key=value ...] [--model=NAME]
                     [--model.FIELD=value ...]

Train a language model. Settings apply in order: the defaults below, then the preset, then the
command line. Your own text: --dataset=PATH (a UTF-8 file; the first train_fraction of it trains,
the rest validates; with the char tokenizer every distinct character becomes a token).
A new run refuses an out_dir that holds another run: --resume=true continues it (from the
checkpoint's settings; --max_iters and the other run-length settings may be given again),
--overwrite=true replaces it.
"""


def help_text(args) -> str:
    """The help for the model the arguments pick (default gpt), with every default."""
    _, overrides = parse_cli_overrides([a for a in args if a not in ("-h", "--help")])
    name = overrides.get("model", overrides.get("model.name", "gpt"))
    spec = get_spec(name)
    lines = [HELP, f"presets: {', '.join(preset_names())}", "", "run settings:"]
    lines += describe(TrainConfig, TrainConfig(model=spec.name))
    lines += ["", f"model settings (--model={spec.name}; models: {', '.join(MODELS)}):"]
    lines += describe(spec.config, spec.default_config(), "model.")
    return "\n".join(lines)


def run_train(args) -> int:
    if any(a in ("-h", "--help") for a in args):
        print(help_text(args))
        return 0
    cfg = config_from_args(args)
    if cfg.resume:  # the checkpoint's settings, then what this command line gives again
        stored = stored_train_config(read_manifest(cfg.out_dir))
        cfg = config_from_args([*args, "--resume=true"], base=stored)
    result = train(cfg)
    if not result.is_main:  # an MPI rank other than 0 (--distributed=true): rank 0 reports
        return 0
    print(f"checkpoint: {result.out_dir} (best val loss: {result.best_dir})")
    print(f"loss plot: {result.plot}")
    print(f"metrics: {result.metrics}")
    print(
        f"final: step={result.step} train_loss={result.train_loss:.4f} "
        f"val_loss={result.val_loss:.4f} seconds={result.seconds:.1f}"
    )
    return 0
