"""A tiny next-token language model (a 2-layer causal transformer) with its own loss and AdamW,
through the LR range test, a 1cycle run and Smith's recipe.

Why this example: language models differ from the paper's convnets in every setting the paper
tunes: they are trained with Adam-family optimizers, their logits are [batch, tokens, classes],
and their loss is a cross-entropy over every token. Smith's tools still apply: the range test
sweeps AdamW's lr, 1cycle's cyclical momentum drives AdamW's beta1 (what "adamw" in paperlib
does), and the recipe chooses lr, beta1 and weight decay by the same short runs.

The loss is a criterion of our own, `next_token_loss(logits, targets)`: torch's
nn.CrossEntropyLoss wants the classes in dimension 1, a language model gives them last, so the
criterion flattens the tokens first. (paperlib's default loss already computes this per-token
cross-entropy; the criterion is spelled out because your own loss goes in the same place, and
because every other tool takes a criterion of this form too.)

The corpus is generated: a stream of sums such as "47+25=72;", each operand 0 to 99. The
operands are random, so no model can predict their digits better than chance; the symbols
mostly, and the answers wholly, follow from what came before, and that is what it can learn.

Run it (wall times measured on this project's 2-core CPU, one torch thread, the machine
shared with other jobs):
    python examples/tiny_language_model.py           # the practitioner's size: 67 s
    python examples/tiny_language_model.py --quick   # the size CI runs: 12 s
    python examples/tiny_language_model.py --out DIR # also keep the recipe's record in DIR

It prints the range test's suggestion, the 1cycle run's test loss and per-token accuracy, a
few sums the trained model completes, the recipe's hand-off and the wall time.

For a benchmark: `build(quick: bool) -> Built`, a named tuple (model, train_loader,
val_loader, loss, optimizer, sweep, steps): a fresh model (the same weights at every call),
torch DataLoaders of (tokens, next tokens) pairs, each [batch, CONTEXT] of int64, the criterion
`next_token_loss` (logits [batch, CONTEXT, classes], targets [batch, CONTEXT]), paperlib's
optimizer name ("adamw"), the range test's `Sweep` and the 1cycle run's length in updates.
"""
from __future__ import annotations

import argparse
import copy
import random
import tempfile
import time
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from paperlib.data import LoaderBatches
from paperlib.engine import Every, fit
from paperlib.range_test import Sweep, lr_range_test
from paperlib.recipe import STEP_SIZE_FRACTION, minimum_search_images, run_recipe
from paperlib.schedules import one_cycle

ALPHABET = "0123456789+=;"
CONTEXT, WIDTH, HEADS, LAYERS = 32, 64, 4, 2
BATCH = 32
WEIGHT_DECAY = 0.01  # torch's AdamW default; decoupled, so larger than SGD's L2 values
# (training windows, validation windows, range-test updates, 1cycle updates) per size
SIZES = {False: (16_000, 1_024, 300, 1_500), True: (1_024, 128, 40, 60)}
# The final training the recipe plans for: its default search budget is 20% of these updates'
# samples. The quick size gives the smallest budget the recipe accepts, on shorter grids.
RECIPE_STEPS = 2_000
RECIPE_WEIGHT_DECAYS = (0.1, 0.01, 0.001, 0.0)
QUICK_GRIDS = {"momenta": (0.9, 0.95), "weight_decays": (0.01, 0.0)}


class Built(NamedTuple):
    """What build() returns; the module docstring says what each field holds."""

    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    loss: Callable | None
    optimizer: str
    sweep: Sweep
    steps: int


def make_stream(characters: int, rng: random.Random) -> torch.Tensor:
    """Token ids of a stream of sums "a+b=c;" at least `characters` long."""
    text = []
    length = 0
    while length < characters:
        a, b = rng.randrange(100), rng.randrange(100)
        text.append(f"{a}+{b}={a + b};")
        length += len(text[-1])
    return encode("".join(text))


def encode(text: str) -> torch.Tensor:
    return torch.tensor([ALPHABET.index(c) for c in text])


def windows(stream: torch.Tensor, count: int, rng: random.Random) -> TensorDataset:
    """`count` windows of CONTEXT + 1 tokens at random places in the stream, as (tokens, the
    same tokens one place on): the pairs a next-token model learns from."""
    starts = torch.tensor([rng.randrange(len(stream) - CONTEXT - 1) for _ in range(count)])
    picked = stream[starts[:, None] + torch.arange(CONTEXT + 1)]
    return TensorDataset(picked[:, :-1], picked[:, 1:])


class TinyLM(nn.Module):
    """Token and position embeddings, a 2-layer transformer with a causal mask (each position
    sees only those before it), and a linear read-out to the next token's logits."""

    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(len(ALPHABET), WIDTH)
        self.positions = nn.Embedding(CONTEXT, WIDTH)
        layer = nn.TransformerEncoderLayer(WIDTH, HEADS, dim_feedforward=2 * WIDTH,
                                           dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(WIDTH)
        self.read_out = nn.Linear(WIDTH, len(ALPHABET))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        x = self.tokens(tokens) + self.positions(torch.arange(length, device=tokens.device))
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device)
        return self.read_out(self.norm(self.blocks(x, mask=mask, is_causal=True)))


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every token: logits [B, T, C] and targets [B, T] flattened to
    the [B*T, C] and [B*T] that F.cross_entropy takes."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def build(quick: bool) -> Built:
    """The model, the loaders and the settings of this example at one size (see the module
    docstring); every call gives the same data and the same initial weights."""
    train_windows, val_windows, sweep_steps, steps = SIZES[quick]
    rng = random.Random(0)
    # separate streams: the validation sums are not the training sums cut elsewhere
    train = windows(make_stream(train_windows * 4, rng), train_windows, rng)
    val = windows(make_stream(val_windows * 4, rng), val_windows, rng)
    train_loader = DataLoader(train, batch_size=BATCH, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(val, batch_size=256)
    torch.manual_seed(0)
    # AdamW's useful lrs are about 1000 times below SGD's; the sweep ends where it diverges
    return Built(TinyLM(), train_loader, val_loader, loss=next_token_loss, optimizer="adamw",
                 sweep=Sweep(0.0, 0.05, sweep_steps), steps=steps)


@torch.no_grad()
def complete(model: nn.Module, prompt: str, limit: int = 4) -> str:
    """The model's greedy continuation of `prompt` up to the next ";"."""
    model.eval()
    tokens = encode(prompt)[None]
    out = ""
    while len(out) < limit:
        following = model(tokens[:, -CONTEXT:])[0, -1].argmax()
        if ALPHABET[following] == ";":
            break
        out += ALPHABET[following]
        tokens = torch.cat([tokens, following.view(1, 1)], 1)
    model.train()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size CI runs")
    parser.add_argument("--out", help="keep the recipe's record (report.md, CSV, "
                        "figures) in this folder, replacing an earlier one there")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, train_loader, val_loader, loss, optimizer, sweep, steps = build(args.quick)

    # 1. The LR range test of AdamW. The model comes back exactly as it was.
    result = lr_range_test(model, LoaderBatches(train_loader), sweep, test=val_loader,
                           loss=loss, optimizer=optimizer, weight_decay=WEIGHT_DECAY)
    smith = result.suggest()["smith"]
    print(f"suggestion: lr_max {smith['lr_max']:.3g}, lr_min {smith['lr_min']:.3g} "
          f"(Smith's rule, read off the {smith['basis']}; the sweep {result.status} after "
          f"{len(result.train)} of {sweep.steps} updates)")
    for note in result.suggest()["diagnostics"]:
        print(f"  note: {note}")
    tested = time.perf_counter()

    # 2. A short 1cycle from that reading, on a copy: the recipe below starts from the same
    # untrained weights. The momentum schedule (0.95 -> 0.85 -> 0.95) drives AdamW's beta1.
    lr, momentum = one_cycle("smith", smith["lr_min"], smith["lr_max"],
                             step_size=int(STEP_SIZE_FRACTION * steps), total=steps)
    trained_model = copy.deepcopy(model)
    run = fit(trained_model, LoaderBatches(train_loader), steps=steps, lr=lr,
              momentum=momentum, weight_decay=WEIGHT_DECAY, optimizer=optimizer,
              test=val_loader, loss=loss, every=Every(eval=steps // 5))
    last = run.test.iloc[-1]
    print(f"1cycle: {steps} updates, test loss {last['loss']:.4f} per token, test accuracy "
          f"{last['accuracy']:.4f} per token")
    sums = ["3+4=7;47+25=", "9+9=18;60+31=", "5+0=5;88+19="]
    print("  completes: " + ", ".join(f"{s.split(';')[1]}{complete(trained_model, s)}"
                                      for s in sums))
    trained = time.perf_counter()

    # 3. Smith's recipe (§5) with AdamW: lr, beta1 and weight decay by short runs.
    grids = dict(QUICK_GRIDS) if args.quick else {"weight_decays": RECIPE_WEIGHT_DECAYS}
    if args.quick:
        grids["search_images"] = minimum_search_images(BATCH, **QUICK_GRIDS)
    with tempfile.TemporaryDirectory() as scratch:
        recipe = run_recipe(model, train_loader, val_loader, out_dir=args.out or scratch,
                            steps=RECIPE_STEPS, lr_range=(sweep.lr_min, sweep.lr_max),
                            loss=loss, optimizer=optimizer, start_weight_decay=WEIGHT_DECAY,
                            overwrite=True, **grids)
    print(f"hand-off: lr {recipe.lr_min:.3g} -> {recipe.lr_max:.3g}, beta1 "
          f"{recipe.mom_max:g} -> {recipe.mom_min:g}, weight decay {recipe.weight_decay:g}, "
          f"batch {recipe.batch_size}, {recipe.steps} updates (search: {recipe.images_used} "
          f"of {recipe.search_images} samples)")
    if args.out:
        print(f"  record: {args.out}/report.md")
    done = time.perf_counter()
    print(f"wall time: {done - started:.1f} s on this CPU (torch threads: "
          f"{torch.get_num_threads()}; range test {tested - started:.1f} s, 1cycle "
          f"{trained - tested:.1f} s, recipe {done - trained:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
