"""The ``factsift`` command: ``label``, ``train``, ``evaluate``, ``export`` and ``serve``.

Thin: each subcommand parses its arguments and calls the library. An expected failure (bad input,
a missing file, a model that will not load) prints one ``factsift: error: ...`` line and exits 2;
Ctrl-C exits 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from factsift import __version__, writers
from factsift.data import Columns, load_data
from factsift.documents import (
    DEFAULT_ID_FIELD, DEFAULT_TEXT_FIELD, STDIN, Document, input_fingerprint, input_sources, iter_documents,
)
from factsift.evaluate import evaluate
from factsift.inputs import DEFAULT_MAX_CHARS
from factsift.labels import parse_label_map
from factsift.model import Classifier, ModelLoadError
from factsift.results import LabeledSentence
from factsift.train import TrainConfig, has_checkpoint, train

# DataError, UnicodeDecodeError and json.JSONDecodeError are ValueErrors; FileNotFoundError,
# FileExistsError, PermissionError and IsADirectoryError are OSErrors; ImportError: a missing extra.
EXPECTED_ERRORS = (ModelLoadError, ValueError, TypeError, OSError, ImportError)
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
DEFAULT_HELP = "(default: %(default)s)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args.run(args, argv)
    except KeyboardInterrupt:
        print(f"factsift: interrupted{_resume_hint(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`factsift label ... | head`): stop quietly, and point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    except EXPECTED_ERRORS as error:
        print(f"factsift: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="factsift", description="Label each sentence of news commentary as fact, quotation or opinion."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_label_command(commands)
    _add_train_command(commands)
    _add_evaluate_command(commands)
    _add_export_command(commands)
    _add_serve_command(commands)
    return parser


# ---- label ------------------------------------------------------------------------------------
def _add_label_command(commands) -> None:
    label = commands.add_parser(
        "label", help="label the sentences of documents",
        description="Split documents into sentences and label each one. Writes one record per sentence "
        "(JSONL or CSV) or one HTML page. With --output, an interrupted run resumes when rerun.",
    )
    label.add_argument(
        "paths", nargs="+", metavar="PATH",
        help=f"a text file, a folder (searched recursively with --glob), a .jsonl or .csv file of "
        f"records, a .tsv or .json file of records, or {STDIN} for stdin",
    )
    label.add_argument(
        "--format", choices=(*writers.FORMATS, "parquet"),
        help="output format (default: jsonl; parquet with --engine)",
    )
    label.add_argument(
        "--output", "-o", type=Path, metavar="FILE",
        help=f"output file (default or {STDIN}: stdout); a symlink is written through, a FIFO or device "
        "streamed; with --engine, a folder of part files",
    )
    label.add_argument(
        "--overwrite", action="store_true",
        help="replace an existing output file; an unfinished OUTPUT.partial of the same inputs and settings "
        "is still resumed, one of other inputs or settings is discarded",
    )
    _add_inference_flags(label)
    label.add_argument(
        "--text-field", metavar="NAME", help="JSONL/JSON/CSV/TSV field holding the text (default: text)"
    )
    label.add_argument(
        "--id-field", metavar="NAME",
        help="JSONL/JSON/CSV/TSV field holding the document id (default: id; without one: file:line)",
    )
    label.add_argument("--glob", default="*.txt", metavar="PATTERN", help="files to read in folders (default: *.txt)")
    label.add_argument(
        "--max-chars", type=_positive_int, default=DEFAULT_MAX_CHARS, metavar="N",
        help=f"longest document accepted, in characters (default: {DEFAULT_MAX_CHARS:,})",
    )
    label.add_argument(
        "--allow-markup", action="store_true",
        help="label documents that are mostly HTML markup instead of stopping (prose that mentions a tag "
        "is always labelled)",
    )
    _add_progress_flag(label)
    _add_engine_flags(label)
    label.set_defaults(run=_label)


def _add_engine_flags(label: argparse.ArgumentParser) -> None:
    """Labelling a JSONL/CSV/parquet archive into a folder of part files, on one machine or a cluster."""
    group = label.add_argument_group("archives (--engine)")
    group.add_argument(
        "--engine", choices=("local", "ray", "spark"),
        help="label JSONL, CSV or parquet files, folders or globs into the --output folder, resumably",
    )
    group.add_argument(
        "--address", metavar="URL",
        help="cluster to join (ray://..., auto, spark://..., local[N]); default: start one on this machine",
    )
    group.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="Ray actors or Spark task slots (default: 1)")
    group.add_argument("--part-size", type=_positive_int, default=64, metavar="N", help="documents per part file (default: 64)")
    group.add_argument(
        "--on-error", choices=("stop", "skip"), default="stop",
        help="a bad record stops the run, or is skipped into OUTPUT/_errors.jsonl (default: stop)",
    )


def _label(args: argparse.Namespace, argv: Sequence[str]) -> None:
    if args.engine is not None:
        _label_archive(args)
        return
    args.format = args.format or "jsonl"
    if args.format == "parquet":
        raise ValueError("--format parquet writes part files: use it with --engine and an --output folder")
    if args.output == Path(STDIN):
        args.output = None
    if args.output is not None:  # fail before loading the model
        inputs = [file for file, _, _ in input_sources(args.paths, args.glob)]
        writers.check_target(args.output, args.overwrite, inputs)
    documents = iter_documents(
        args.paths, args.text_field, args.id_field, args.glob, args.max_chars, allow_markup=args.allow_markup
    )
    classifier = Classifier.from_pretrained(args.model, device=args.device, backend=args.backend, threads=args.threads)
    if args.output is None and isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")  # JSON and CSV are UTF-8 whatever the locale
    run = {
        "inputs": input_fingerprint(args.paths, args.glob), "model": classifier.source, "labels": classifier.labels,
        "text_field": args.text_field, "id_field": args.id_field, "max_chars": args.max_chars,
        "allow_markup": args.allow_markup,
    }
    documents_done = sentences_done = 0
    with writers.open_writer(args.format, classifier.labels, args.output, args.overwrite, run) as writer:
        if writer.done:
            print(
                f"factsift: resuming {writers.partial_path(args.output)}: "
                f"{len(writer.done):,} documents already written",
                file=sys.stderr,
            )
        todo = (document for document in documents if document.id not in writer.done)
        with tqdm(desc="labelling", unit="doc", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True) as bar:
            for document, sentences in _labelled(classifier, todo, args.batch_size, args.max_chars, args.allow_markup):
                writer.write(document, sentences)
                documents_done += 1
                sentences_done += len(sentences)
                bar.update()
                bar.set_postfix(sentences=sentences_done, refresh=False)
    if args.output is not None:
        print(
            f"factsift: labelled {sentences_done:,} sentences in {documents_done:,} documents; "
            f"wrote {args.output}",
            file=sys.stderr,
        )


def _label_archive(args: argparse.Namespace) -> None:
    from factsift.engines.archive import FORMATS, label_archive, open_engine

    if args.output is None:
        raise ValueError("--engine needs --output, the folder the part files go to")
    fmt = args.format or "parquet"
    if fmt not in FORMATS:
        raise ValueError(f"with --engine, format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    engine, settings = open_engine(args.engine, args.address, args.workers, args.model, args.backend, args.threads)
    summary = label_archive(
        args.paths, args.output, engine, settings, fmt, args.text_field or DEFAULT_TEXT_FIELD,
        args.id_field or DEFAULT_ID_FIELD, args.part_size,
        args.on_error, progress=not args.no_progress,
    )
    errors = f"; skipped {summary.errors:,} bad records (see {args.output}/_errors.jsonl)" if summary.errors else ""
    print(
        f"factsift: labelled {summary.sentences:,} sentences in {summary.documents:,} documents into "
        f"{summary.parts_written:,} parts ({summary.parts_skipped:,} done before){errors}; wrote {args.output}",
        file=sys.stderr,
    )


def _labelled(
    classifier: Classifier, documents: Iterable[Document], batch_size: int, max_chars: int | None, allow_markup: bool
) -> Iterator[tuple[Document, list[LabeledSentence]]]:
    """Each document with its labelled sentences, in order; sentences are batched across documents."""
    queued: deque[Document] = deque()

    def texts() -> Iterator[str]:
        for document in documents:
            queued.append(document)
            yield document.text

    for sentences in classifier.label_texts(texts(), batch_size, max_chars, allow_markup):
        yield queued.popleft(), sentences


# ---- train ------------------------------------------------------------------------------------
_TRAIN_DEFAULTS = TrainConfig(train=None, output="factsift-model")


def _add_train_command(commands) -> None:
    train = commands.add_parser(
        "train", help="fine-tune a classifier on labelled sentences",
        description="Fine-tune a model on labelled sentences (CSV, TSV, JSONL or parquet) and write a "
        "model directory with its evaluation report and model card.",
    )
    d = _TRAIN_DEFAULTS
    train.add_argument("--train", required=True, metavar="FILE", help="training data")
    train.add_argument("--dev", metavar="FILE", help="dev data (default: a stratified split of --train)")
    train.add_argument(
        "--base-model", metavar="DIR_OR_ID", help="model to fine-tune (default: the bundled all-MiniLM-L6-v2)"
    )
    train.add_argument("--output", default=d.output, metavar="DIR", help="model directory (default: %(default)s)")
    train.add_argument("--epochs", type=_positive_int, default=d.epochs, metavar="N", help=DEFAULT_HELP)
    _add_batch_size_flag(train, default=d.batch_size)
    train.add_argument("--learning-rate", type=float, default=d.learning_rate, metavar="X", help=DEFAULT_HELP)
    train.add_argument(
        "--max-length", type=_positive_int, default=d.max_length, metavar="N", help="in tokens (default: %(default)s)"
    )
    train.add_argument(
        "--context-window", type=int, default=d.context_window, metavar="N",
        help="neighbouring sentences given as context on each side (default: %(default)s)",
    )
    train.add_argument(
        "--data-card", type=Path, metavar="FILE",
        help="markdown file describing the training data (sources, licences), copied into the model card",
    )
    train.add_argument(
        "--context-dropout", type=float, default=d.context_dropout, metavar="X",
        help="share of training examples shown without their neighbours (default: %(default)s)",
    )
    _add_data_flags(train)
    train.add_argument(
        "--dev-fraction", type=float, default=d.dev_fraction, metavar="X",
        help="share of --train held out as dev when there is no --dev (default: %(default)s)",
    )
    train.add_argument("--seed", type=int, default=d.seed, metavar="N", help=DEFAULT_HELP)
    train.add_argument(
        "--patience", type=_positive_int, default=d.patience, metavar="N",
        help="stop after this many epochs without dev gain (default: %(default)s)",
    )
    train.add_argument("--no-class-weights", dest="class_weights", action="store_false",
                       help="do not weight the loss by inverse label frequency")
    train.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                       help="do not fit a softmax temperature on the dev data")
    train.add_argument("--float16", action="store_true", help="save the weights in float16")
    train.add_argument(
        "--checkpoint-steps", type=_positive_int, default=d.checkpoint_steps, metavar="N",
        help="save a checkpoint every N steps, and at each epoch end (default: %(default)s)",
    )
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    train.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    _add_device_flag(train)
    train.set_defaults(run=_train)


def _train(args: argparse.Namespace, argv: Sequence[str]) -> None:
    columns, label_map = _data_options(args)
    config = TrainConfig(
        train=args.train, dev=args.dev, base_model=args.base_model, output=args.output,
        columns=columns, label_map=label_map, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_length=args.max_length, context_window=args.context_window,
        context_dropout=args.context_dropout,
        data_description=args.data_card.read_text(encoding="utf-8") if args.data_card else "",
        dev_fraction=args.dev_fraction, seed=args.seed, patience=args.patience, checkpoint_steps=args.checkpoint_steps,
        class_weights=args.class_weights, calibrate=args.calibrate, save_float16=args.float16,
        resume=args.resume, overwrite=args.overwrite, device=args.device,
        command=shlex.join(["factsift", *argv]),
    )
    result = train(config)
    print(result.dev_report.to_markdown())
    print(f"factsift: model written to {result.output}", file=sys.stderr)


# ---- evaluate ---------------------------------------------------------------------------------
def _add_evaluate_command(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score a model on labelled sentences",
        description="Score a model on labelled sentences; prints the report as markdown.",
    )
    evaluate.add_argument("--model", required=True, metavar="DIR_OR_ID", help="model directory or Hugging Face id")
    evaluate.add_argument("--data", required=True, metavar="FILE", help="labelled sentences")
    _add_data_flags(evaluate)
    evaluate.add_argument("--output", type=Path, metavar="FILE", help="also write the report as JSON here")
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    _add_batch_size_flag(evaluate)
    _add_device_flag(evaluate)
    _add_progress_flag(evaluate)
    evaluate.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace, argv: Sequence[str]) -> None:
    if args.output is not None:
        writers.check_target(args.output, args.overwrite)
    columns, label_map = _data_options(args)
    data = load_data(args.data, columns, label_map)
    classifier = Classifier.from_pretrained(args.model, device=args.device)
    report = evaluate(classifier, data, batch_size=args.batch_size, progress=not args.no_progress)
    print(report.to_markdown())
    if args.output is not None:
        report.save(args.output)
        print(f"factsift: report written to {args.output}", file=sys.stderr)


# ---- export -----------------------------------------------------------------------------------
def _add_export_command(commands) -> None:
    export = commands.add_parser(
        "export", help="export a model to ONNX for fast CPU inference",
        description="Export a model directory to ONNX (optionally int8-quantized).",
    )
    export.add_argument("--model", required=True, metavar="DIR", help="model directory to export")
    export.add_argument("--output", required=True, metavar="DIR", help="directory for the exported model")
    export.add_argument("--quantize", choices=("int8",), help="quantize the weights")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    export.set_defaults(run=_export)


def _export(args: argparse.Namespace, argv: Sequence[str]) -> None:
    from factsift.export import describe_export, export_model

    output = export_model(args.model, args.output, quantize=args.quantize, overwrite=args.overwrite)
    print(f"factsift: exported {args.model} to {output}: {describe_export(output)}", file=sys.stderr)


# ---- serve ------------------------------------------------------------------------------------
def _add_serve_command(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve the HTTP API and the labelling page",
        description="Serve POST /v1/label, GET /v1/health, API docs at /docs and a page at / that highlights "
        "opinion. Needs the 'serve' extra: pip install 'factsift[serve]'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    serve.add_argument("--port", type=int, default=8000, metavar="N", help="port to listen on, 0 for any free one (default: %(default)s)")
    _add_inference_flags(serve)
    serve.add_argument("--max-body-bytes", type=_positive_int, default=1_000_000, metavar="N",
                       help="largest request body accepted (default: %(default)s)")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                       help="send CORS headers allowing this origin (repeatable; default: no CORS headers)")
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> None:
    try:
        from factsift.serve import serve
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"factsift serve needs the 'serve' extra (missing {error.name}): "
                                  "pip install 'factsift[serve]'") from None
    serve(args.model, host=args.host, port=args.port, threads=args.threads, device=args.device,
          backend=args.backend, batch_size=args.batch_size, max_body_bytes=args.max_body_bytes,
          cors_origins=args.cors_origin)


# ---- shared flags -----------------------------------------------------------------------------
def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    """Where the sentence, label and context are in a data file, and how labels are renamed."""
    columns = Columns()
    group = parser.add_argument_group("data columns")
    group.add_argument("--text-column", default=columns.text, metavar="NAME", help=DEFAULT_HELP)
    group.add_argument("--label-column", default=columns.label, metavar="NAME", help=DEFAULT_HELP)
    for side in ("before", "after"):
        group.add_argument(
            f"--context-{side}-column", default=getattr(columns, f"context_{side}"), metavar="NAME",
            help=f"text {side} the sentence, used when present; '' for none (default: %(default)s)",
        )
    group.add_argument("--label-map", metavar="SRC=DST,...", help="rename labels, e.g. OBJ=fact,SUBJ=opinion")


def _data_options(args: argparse.Namespace) -> tuple[Columns, dict[str, str] | None]:
    columns = Columns(
        text=args.text_column, label=args.label_column,
        context_before=args.context_before_column or None, context_after=args.context_after_column or None,
    )
    return columns, parse_label_map(args.label_map) or None


def _add_inference_flags(parser: argparse.ArgumentParser) -> None:
    """--model, --backend, --device, --batch-size and --threads: which model runs, and how."""
    parser.add_argument(
        "--model", metavar="DIR_OR_ID", help="model directory or Hugging Face id (default: the shipped model)"
    )
    parser.add_argument(
        "--backend", choices=("auto", "torch", "onnx"), default="auto",
        help="auto: the model directory's ONNX export (the shipped model's int8 file) on CPU when it has one, "
        "else torch; torch: the safetensors weights (default: auto)",
    )
    _add_device_flag(parser)
    _add_batch_size_flag(parser)
    parser.add_argument(
        "--threads", type=_positive_int, metavar="N",
        help="CPU threads for inference (default: one per physical core; use fewer per run when running "
        "several runs side by side)",
    )


def _add_device_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda or cuda:N (default: auto)")


def _add_batch_size_flag(parser: argparse.ArgumentParser, default: int = 32) -> None:
    parser.add_argument(
        "--batch-size", type=_positive_int, default=default, metavar="N",
        help="sentences per batch (default: %(default)s)",
    )


def _add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


# ---- errors -----------------------------------------------------------------------------------
def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"factsift: warning: {_one_line(message)}", file=sys.stderr)


def _resume_hint(args: argparse.Namespace) -> str:
    """How to go on after Ctrl-C, only where it is true: a .partial with documents, a checkpoint."""
    if args.command == "label" and args.engine is not None:
        return f"; rerun the same command to continue (finished parts are kept in {args.output})"
    if args.command == "label" and args.output is not None and args.format != "html":
        partial = writers.partial_path(args.output)
        if partial.exists():
            return f"; rerun the same command to continue (finished documents are kept in {partial})"
    if args.command == "train":
        if has_checkpoint(args.output):
            return "; rerun with --resume to continue from the last checkpoint"
        return "; no checkpoint was saved yet, so there is nothing to resume"
    return ""
