"""A bag-of-words text classifier (nn.EmbeddingBag) whose batches are dicts, through the LR
range test and a 1cycle run.

Why this example: text models take batches that are not (image, label) pairs. An EmbeddingBag
reads every document of a batch as one flat row of token ids plus the offset where each
document starts, and Hugging Face-style code passes such batches as dicts. paperlib takes a dict
batch as it is: the model is called as model(**batch) and the target is batch["labels"] (or
"label", "target", "y"), so the forward pass accepts `labels` too. Nothing else changes: the
default loss is cross-entropy against the labels, and the accuracy is reported.

The corpus is made up on the spot: short "documents" of 8 to 30 words about one of 4 topics
(sport, weather, cooking, money). Most words are filler shared by every topic; a quarter are the
topic's own, and one topic word in five comes from another topic, so a bag of words can learn
the classes but not trivially.

Run it (wall times measured on this project's 2-core CPU, one torch thread, the machine
shared with other jobs):
    python examples/text_classifier.py           # the practitioner's size: 5 s
    python examples/text_classifier.py --quick   # the size CI runs: 4 s

It prints the range test's suggestion, the 1cycle run's test loss and accuracy, and the wall
time.

For a benchmark: `build(quick: bool) -> Built`, a named tuple (model, train_loader,
val_loader, loss, optimizer, sweep, steps): a fresh model (the same weights at every call),
torch DataLoaders of {"input_ids", "offsets", "labels"} dicts, the `loss=` paperlib takes
(None: cross-entropy of the logits against batch["labels"]), paperlib's optimizer name, the
range test's `Sweep` and the 1cycle run's length in updates.
"""
from __future__ import annotations

import argparse
import random
import time
from typing import Callable, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from paperlib.data import LoaderBatches
from paperlib.engine import Every, fit
from paperlib.range_test import Sweep, lr_range_test
from paperlib.recipe import STEP_SIZE_FRACTION
from paperlib.schedules import one_cycle

TOPICS = {
    "sport": "goal match team coach score league player referee season stadium cup win",
    "weather": "rain storm cloud sunny wind forecast snow cold warm humid thunder fog",
    "cooking": "recipe oven bake flour sauce garlic boil onion salt pepper dough taste",
    "money": "bank price market stock loan interest budget tax profit invest cash debt",
}
FILLER = ("the a an and of to in on for with this that it was is at by from today new "
          "people said we they very more most after before about over some all one two "
          "report week day city local time again still just").split()
TOPIC_SHARE, CONFUSION = 0.25, 0.2  # of a document's words; of its topic words
EMBEDDING, BATCH = 32, 32
# (training documents, validation documents, range-test updates, 1cycle updates) per size
SIZES = {False: (8_000, 1_000, 300, 1_000), True: (1_024, 256, 60, 100)}


class Built(NamedTuple):
    """What build() returns; the module docstring says what each field holds."""

    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    loss: Callable | None
    optimizer: str
    sweep: Sweep
    steps: int


def make_corpus(documents: int, rng: random.Random) -> list[tuple[list[str], int]]:
    """(words, topic index) per document, as described in the module docstring."""
    topics = [words.split() for words in TOPICS.values()]
    corpus = []
    for _ in range(documents):
        label = rng.randrange(len(topics))
        words = []
        for _ in range(rng.randint(8, 30)):
            if rng.random() < TOPIC_SHARE:
                source = rng.randrange(len(topics)) if rng.random() < CONFUSION else label
                words.append(rng.choice(topics[source]))
            else:
                words.append(rng.choice(FILLER))
        corpus.append((words, label))
    return corpus


# The vocabulary: every word the corpus can hold, id 0 kept for words it has never seen.
VOCABULARY = {word: i + 1 for i, word in enumerate(
    sorted(set(FILLER) | {w for words in TOPICS.values() for w in words.split()}))}


def collate(samples: list[tuple[list[str], int]]) -> dict[str, torch.Tensor]:
    """A batch as EmbeddingBag reads it: all token ids in one flat tensor, each document's
    start in `offsets`, and the labels under the key paperlib reads the target from."""
    ids = [torch.tensor([VOCABULARY.get(w, 0) for w in words]) for words, _ in samples]
    lengths = torch.tensor([0] + [len(t) for t in ids[:-1]])
    return {"input_ids": torch.cat(ids), "offsets": lengths.cumsum(0),
            "labels": torch.tensor([label for _, label in samples])}


class BagOfWords(nn.Module):
    """The mean of a document's word embeddings, then a linear layer to the topics."""

    def __init__(self, vocabulary: int, classes: int):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocabulary, EMBEDDING, mode="mean")
        self.classify = nn.Linear(EMBEDDING, classes)

    def forward(self, input_ids, offsets, labels=None):
        # `labels` arrives because the whole dict batch is passed as keyword arguments; the
        # loss is computed outside the model, so it is not used here
        return self.classify(self.embed(input_ids, offsets))


def build(quick: bool) -> Built:
    """The model, the loaders and the settings of this example at one size (see the module
    docstring); every call gives the same data and the same initial weights."""
    train_docs, val_docs, sweep_steps, steps = SIZES[quick]
    rng = random.Random(0)
    train = make_corpus(train_docs, rng)
    val = make_corpus(val_docs, rng)
    train_loader = DataLoader(train, batch_size=BATCH, shuffle=True, collate_fn=collate,
                              generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(val, batch_size=256, collate_fn=collate)
    torch.manual_seed(0)
    model = BagOfWords(len(VOCABULARY) + 1, len(TOPICS))
    # embeddings learn slowly under SGD: the sweep reaches lrs far above a convnet's
    return Built(model, train_loader, val_loader, loss=None, optimizer="sgd",
                 sweep=Sweep(0.0, 20.0, sweep_steps), steps=steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size CI runs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, train_loader, val_loader, loss, optimizer, sweep, steps = build(args.quick)

    # 1. The LR range test. The model comes back exactly as it was.
    result = lr_range_test(model, LoaderBatches(train_loader), sweep, test=val_loader,
                           loss=loss, optimizer=optimizer)
    smith = result.suggest()["smith"]
    print(f"suggestion: lr_max {smith['lr_max']:.3g}, lr_min {smith['lr_min']:.3g} "
          f"(Smith's rule, read off the {smith['basis']}; the sweep {result.status} after "
          f"{len(result.train)} of {sweep.steps} updates)")
    for note in result.suggest()["diagnostics"]:
        print(f"  note: {note}")
    tested = time.perf_counter()

    # 2. A short 1cycle from that reading (Smith's shape: up over 45% of the run, down to 0 by
    # 90%, then lr_min/1000; momentum 0.95 -> 0.85 -> 0.95 against the lr).
    lr, momentum = one_cycle("smith", smith["lr_min"], smith["lr_max"],
                             step_size=int(STEP_SIZE_FRACTION * steps), total=steps)
    run = fit(model, LoaderBatches(train_loader), steps=steps, lr=lr, momentum=momentum,
              weight_decay=1e-4, optimizer=optimizer, test=val_loader, loss=loss,
              every=Every(eval=steps // 5))
    last = run.test.iloc[-1]
    print(f"1cycle: {steps} updates, test loss {last['loss']:.4f}, test accuracy "
          f"{last['accuracy']:.4f} (chance: {1 / len(TOPICS):.2f})")
    done = time.perf_counter()
    print(f"wall time: {done - started:.1f} s on this CPU (torch threads: "
          f"{torch.get_num_threads()}; range test {tested - started:.1f} s, 1cycle "
          f"{done - tested:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
