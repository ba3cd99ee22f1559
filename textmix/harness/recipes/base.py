"""The recipe template: a modality's recipe is a `Recipe` subclass that declares what the sweep dispatches on
(class attributes) and overrides the hooks (splits, preprocessing, model, collator, metrics); `run` and the
command line are written once, here. docs/adding-a-modality.md shows a subclass.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..checks import InputError
from .arguments import DataArgumentsBase, ModelArguments

if TYPE_CHECKING:
    from textmix.methods.base import MixMethod
    from textmix.trainer import MixTrainingArguments

    from ..data.contracts import RecipeData
    from ..runfile import RunResults

LEFT_THE_RECIPES = {  # flags the recipes no longer take, and what to run instead
    "compare": "a comparison of methods is a sweep: `textmix compare` with a one-task grid, e.g. `textmix compare "
               "--preset quick --tasks sst2 --methods none hidden --output_dir out/q` (or --config grid.yaml)",
    "quick": "the quick MNIST comparison is the `quick` preset's digits task: `textmix compare --preset quick "
             "--tasks digits --methods none label_smoothing mixup regmixup_mixup cutmix transmix_cutmix "
             "--output_dir out/q`",
}


@dataclass
class Prepared:
    """The data as the model takes it (`Recipe.preprocess`)."""

    splits: Mapping[str, Any]
    shifted: dict[str, dict[int, Any]] = field(default_factory=dict)
    processor: Any = None  # the tokenizer or image processor saved beside the model
    header: dict[str, Any] = field(default_factory=dict)  # the recipe's own entries of results.json


class Recipe:
    """One modality's recipe: the facts the sweep reads (class attributes) and the hooks `run` calls."""

    name: ClassVar[str]  # `textmix train NAME`, and the module under `textmix.harness.recipes`
    modality: ClassVar[str]  # what a grid's task mapping gives as `modality`
    launcher: ClassVar[str]  # the launcher script under `recipes/` (for torchrun / accelerate launch)
    data_arguments: ClassVar[type] = DataArgumentsBase
    model_arguments: ClassVar[type] = ModelArguments
    short_keys: ClassVar[Mapping[str, str]] = {}  # a task mapping's short keys -> the DataArguments field set
    data_sources: ClassVar[tuple[str, ...]] = ("train_file", "dataset_name")  # a task must set one of these
    data_hint: ClassVar[str] = "train_file (+ test_file) or dataset"  # the data a task must give, in messages
    noun: ClassVar[str] = ""  # what its examples are, in messages ('the task is images'); default: the modality
    mixes: ClassVar[str] = "text"  # the `textmix.methods` modality of the methods that fit its tasks
    token_labels: ClassVar[bool] = False  # labels per token (only methods that mix token labels fit)
    grid_model: ClassVar[bool] = True  # a task trains the grid's `model_name_or_path` unless it names its own
    data_defaults: ClassVar[Mapping[str, Any]] = {}  # DataArguments fields a grid's task sets (`task_name: None`)

    @property
    def shift(self) -> str | None:
        """The shift family of its corrupted test sets (its DataArguments' `SHIFT_FAMILY`), or None."""
        return getattr(self.data_arguments, "SHIFT_FAMILY", None)

    @property
    def label(self) -> str:
        """`noun`, or the modality."""
        return self.noun or self.modality

    def test_set(self, data: Mapping[str, Any]) -> str | None:
        """A task's test set named from its DataArguments fields before loading (None: the generic naming)."""
        return None

    def unfit_reason(self, method: MixMethod) -> str | None:
        """Why a mixing method does not fit this recipe's tasks, or None."""
        if method.modality != self.mixes:
            from .registry import recipes

            other = recipes().get(method.modality)  # what it mixes, as that modality's recipe says it
            return f"{method.name} mixes {other.label if other else method.modality}; the task is {self.label}"
        if self.token_labels and not method.token_labels:
            return f"{method.name} does not mix token labels"
        return None

    # ------------------------------------------------------------------------------------------- hooks

    def check(self, model_args: Any, data_args: Any, training_args: MixTrainingArguments) -> None:
        """Checks of the arguments before anything is loaded (the method: `unfit_reason`)."""
        if getattr(training_args, "mixing", False):
            from textmix.methods import get_method

            unfit = [why for name in training_args.mix_config().method_weights
                     if (why := self.unfit_reason(get_method(name)))]
            if unfit:
                raise InputError(f"--mix_method {training_args.mix_method}: {'; '.join(unfit)}; use one of "
                                 f"{self.fitting_methods()}, or none.")

    def fitting_methods(self) -> list[str]:
        """The registered methods that fit this recipe's tasks."""
        from textmix.methods import registered

        return [m.name for m in registered() if self.unfit_reason(m) is None]

    def check_data(self, model_args: Any, data_args: Any, training_args: MixTrainingArguments) -> None:
        """Raise what is wrong with a task's data before the first run of a sweep (default: load it)."""
        self.load_data(model_args, data_args, training_args)

    def load_data(self, model_args: Any, data_args: Any, training_args: MixTrainingArguments) -> RecipeData:
        """The splits (train, validation, test[...]) and what the labels are."""
        raise NotImplementedError

    def preprocess(self, data: RecipeData, model_args: Any, data_args: Any,
                   training_args: MixTrainingArguments) -> Prepared:
        """The splits (and corrupted test copies) as the model takes them, with the processor to save."""
        return Prepared(data.splits, data.shifted)

    def build_model(self, data: RecipeData, model_args: Any, processor: Any) -> Any:
        """The model to fine-tune for `data` (seeded by the training seed)."""
        raise NotImplementedError

    def collator(self, processor: Any) -> Any:
        """The data collator (None: the Trainer's default)."""
        return None

    def metrics(self, data: RecipeData) -> Any:
        """The `compute_metrics` of the Trainer."""
        from textmix.calibration import classification_metrics

        return classification_metrics()

    def task_name(self, data_args: Any, data: RecipeData) -> str:
        """The data's name in results.json (`task`)."""
        return data_args.name()

    def model_name(self, model_args: Any) -> str:
        """The model's name in results.json (`model`)."""
        return model_args.model_name_or_path

    @contextlib.contextmanager
    def running(self, training_args: MixTrainingArguments) -> Iterator[None]:
        """Process settings while the run loads and trains (none by default)."""
        yield

    # ------------------------------------------------------------------------------------------- the run

    def run(self, model_args: Any, data_args: Any, training_args: MixTrainingArguments,
            tags: dict[str, Any] | None = None) -> RunResults:
        """Check every input before a model is loaded, then train (resuming), predict, calibrate and write the
        run's files. `tags`: extra entries of results.json (a `method` tag names the method)."""
        from transformers import set_seed

        from textmix.trainer import MixTrainer

        from ..checks import check_run
        from ..runfile import header
        from .common import train_and_report

        check_run(training_args.output_dir, model_args.model_name_or_path)
        self.check(model_args, data_args, training_args)
        with self.running(training_args):
            data = self.load_data(model_args, data_args, training_args)
            prepared = self.preprocess(data, model_args, data_args, training_args)
            set_seed(training_args.seed)
            model = self.build_model(data, model_args, prepared.processor)
            splits = prepared.splits
            trainer = MixTrainer(model=model, args=training_args, train_dataset=splits["train"],
                                 eval_dataset=splits["validation"], processing_class=prepared.processor,
                                 data_collator=self.collator(prepared.processor), compute_metrics=self.metrics(data))
            first = header(tags or {}, task=self.task_name(data_args, data), training_args=training_args,
                           model=self.model_name(model_args), modality=self.modality, data=data,
                           label_noise=data_args.label_noise, **prepared.header)
            config = {"model": dataclasses.asdict(model_args), "data": dataclasses.asdict(data_args),
                      "training": training_args.to_dict()}
            return train_and_report(trainer, splits, first, config, problem_type=data.problem_type,
                                    dropped_unlabelled=data.dropped_unlabelled, shifted=prepared.shifted,
                                    save_calibrated=model_args.save_calibrated,
                                    save_calibrated_at_bound=model_args.save_calibrated_at_bound)

    # ------------------------------------------------------------------------------------------- command line

    def make_parser(self, subparsers: Any = None) -> Any:
        """With `subparsers` (`textmix train`), a sub-command passing the recipe's arguments on to `main`; else
        the `HfArgumentParser` of its arguments."""
        if subparsers is not None:
            sub = subparsers.add_parser(self.name, help=f"{self.modality}: python {self.launcher}'s arguments",
                                        add_help=False, prefix_chars="\0")  # every argument is the recipe's
            sub.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's arguments")
            sub.set_defaults(recipe=self)
            return sub
        from transformers import HfArgumentParser

        from textmix.trainer import MixTrainingArguments

        return HfArgumentParser((self.model_arguments, self.data_arguments, MixTrainingArguments))

    def parse_args(self, argv: Sequence[str] | None = None) -> tuple[Any, Any, MixTrainingArguments]:
        """(model, data, training arguments) of a command line or one .json/.yaml file."""
        from .arguments import config_file, parse, read_config

        argv = list(sys.argv[1:] if argv is None else argv)
        path = config_file(argv)
        given = set(read_config(path)) if path else {a[2:].split("=")[0] for a in argv if a.startswith("--")}
        for flag, instead in LEFT_THE_RECIPES.items():
            if flag in given:
                raise InputError(f"--{flag} is not a recipe argument (a recipe trains one model): {instead}.")
        return parse(self.make_parser(), argv)

    def main(self, argv: Sequence[str] | None = None) -> RunResults:
        """Parse, run, print the closing line (`summary_line`) and end the process group."""
        from .common import shutdown_distributed, summary_line

        model_args, data_args, training_args = self.parse_args(argv)
        results = self.run(model_args, data_args, training_args)
        if training_args.process_index == 0:
            print("\n" + summary_line(results), flush=True)
        shutdown_distributed()  # frees the trainer, then destroys the process group
        return results

    def cli(self, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
        """`main` with an error as one message under the command typed (`prog`); returns the exit status."""
        from ..checks import friendly_errors, typed_command

        prog = prog or typed_command(self.launcher, f"textmix.harness.recipes.{self.name}")
        outcome = friendly_errors(self.main, argv, prog=prog, debug_hint="TEXTMIX_DEBUG=1")
        return outcome if isinstance(outcome, int) else 0
