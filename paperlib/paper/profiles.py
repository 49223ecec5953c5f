"""The runs behind each figure, in the paper's settings, and the profiles that scale them.

The `paper` profile is 1803.09820 as its code ran it (../shared/paper/SETTINGS.md, from Smith's
jsub/x4.sh job scripts, prototxts and logs). `small` and `smoke` keep every schedule's shape, the
learning rates, momenta and weight decays, and scale only three things, given per figure in
SCALES: iterations (every step size, milestone and max_iter scaled alike), batch size where the
figure does not compare batch sizes, and the test interval. Profiles are defined here only;
notebooks ask for them by name.

BatchNorm: Smith's runs split the TBS over 4 GPUs (8 for Fig 5) with plain Caffe BatchNorm, so
its statistics came from one GPU's share. `paper` emulates that with `bn_shards` (ghost batch
norm over equal contiguous shards, models.build_model); `small` and `smoke` scale the batch down
and normalise over the whole of it (BN shards 1), which the settings tables show.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import ConfigError

PROFILES = ("smoke", "small", "paper")


@dataclass(frozen=True)
class Profile:
    """What a profile changes outside the schedules: model, data, seeds, evaluation."""
    name: str
    model_fig5: str           # the super-convergence ResNet-56 (Fig 5) or its stand-in
    model: str                # gResnet56 (Figs 1, 8, 15) or its stand-in
    train_subset: int | None  # stratified training subset; None = all 50,000 images
    test_subset: int | None   # test images per evaluation; None = all 10,000
    seeds: tuple[int, ...]    # one run per seed; the curve is their mean
    jitter: bool              # Smith's 4 runs per curve: TBS +12/+8/+4/+0, xavier/msra alternated
    bn_momentum: float | None  # None: the paper's per-figure value (Caffe moving_average_fraction)
    bn_shards: int | None     # None: the paper's per-figure value (one shard per GPU's share)
    purpose: str


PROFILE_SETTINGS = {
    "smoke": Profile("smoke", "resnet8", "resnet8", 1000, 500, (0,), False, 0.1, 1,
                     "CI: the whole pipeline in under 2 minutes per notebook on 2 CPU cores"),
    "small": Profile("small", "resnet8", "resnet8", None, 2000, (0,), False, 0.1, 1,
                     "a scaled replication on all of CIFAR-10: under 30 minutes per notebook "
                     "on 2 CPU cores"),
    "paper": Profile("paper", "resnet56-sc", "gresnet56", None, 6400, (0, 1, 2, 3), True, None, None,
                     "the paper's settings: 4 runs per curve, for a GPU"),
}


@dataclass(frozen=True)
class Scale:
    iters: float       # factor on every iteration count
    batch: float       # factor on the batch size (1.0 where the figure compares batch sizes)
    eval_every: int    # test interval in (scaled) iterations
    seeds: int = 0     # runs per curve; 0: the profile's seeds


# Per figure and profile. smoke: under 2 minutes per notebook on 2 CPU cores. small: at most 30
# minutes per notebook on 2 cores, spent where a claim can be decided at CPU scale
# (REPLICATIONS.md §6):
# - Fig 5a/5b's effects appear after 4-10 M images at TBS 1000 (§1), beyond any CPU budget: the
#   runs only draw the curves' shapes, and the verdicts say "not testable".
# - Fig 8a/8b and 15a/15b are orderings or equivalences of small gaps (§5): 2 seeds per curve,
#   so that the noise comes from replicates; shorter runs pay for the second seed.
# - Fig 1a's range tests are read off one sweep (the curve's own scatter is its noise).
# `paper` measures before it spends: a pilot of Smith's own 4 runs per curve for every figure
# (PILOT_SEEDS: x4.sh's four jobs per curve, SETTINGS.md §1; Fig 5, which Smith ran once, gets them
# too, so that its rules read its own spread), then `python -m paperlib plan --profile paper
# --from-pilot DIR` writes the final runs per curve into plan.lock.json (paperlib.paper.plan.lock),
# and `seeds_for` reads them from there. The lock committed before any run is the pilot's.
PILOT_SEEDS = 4
PAPER_BUDGET_HOURS = 24.0
PAPER_RATE = 55_000  # training images/s on one H200 assumed until a pilot measures it: half the
# eager estimate of PERFORMANCE-anchors §7 (0.45 s/epoch, ±2x); the device check and the pilot
# replace it

_FIG5 = {"smoke": Scale(1 / 500, 1 / 32, 10), "small": Scale(1 / 100, 1 / 10, 10)}
SCALES = {
    "fig1a": {"smoke": Scale(1 / 500, 1 / 8, 10), "small": Scale(1 / 25, 1 / 4, 25),
              "paper": Scale(1, 1, 200, seeds=PILOT_SEEDS)},
    "fig5a": {**_FIG5, "paper": Scale(1, 1, 100, seeds=PILOT_SEEDS)},
    "fig5b": {**_FIG5, "paper": Scale(1, 1, 100, seeds=PILOT_SEEDS)},
    "fig8a": {"smoke": Scale(1 / 500, 1 / 32, 10), "small": Scale(1 / 40, 1 / 8, 25, seeds=2),
              "paper": Scale(1, 1, 200, seeds=PILOT_SEEDS)},
    "fig8b": {"smoke": Scale(1 / 500, 1 / 16, 10), "small": Scale(1 / 60, 1, 15, seeds=2),
              "paper": Scale(1, 1, 200, seeds=PILOT_SEEDS)},
    "fig15a": {"smoke": Scale(1 / 200, 1 / 8, 5), "small": Scale(1 / 16, 1 / 4, 20, seeds=2),
               "paper": Scale(1, 1, 100, seeds=PILOT_SEEDS)},
    "fig15b": {"smoke": Scale(1 / 500, 1 / 16, 10), "small": Scale(1 / 100, 1, 10, seeds=2),
               "paper": Scale(1, 1, 100, seeds=PILOT_SEEDS)},
}


@dataclass(frozen=True)
class RunSpec:
    """One curve of a figure (runs_for), or one run of it (figure_runs: a curve for one seed,
    with that replicate's batch size and init): a schedule and the settings around it, in the
    paper's units. A run's RunSpec is all a worker needs to rebuild its Job (replicate.job_for)."""
    label: str                 # the paper's legend label
    schedule: dict             # experiment.make_schedules keywords (kind, lr_min, lr_max, ...)
    steps: int                 # max_iter
    batch_size: int            # TBS
    weight_decay: float
    optimizer: str = "caffe-nesterov"
    bn_momentum: float = 0.1   # torch convention: 1 - Caffe's moving_average_fraction
    range_test: bool = False   # a linear lr sweep read against the lr
    jitter: bool = True        # Smith's 4-run batch/init jitter applies (x4.sh runs, not Fig 5)
    bn_shards: int = 4         # GPUs the TBS was split over: BN statistics per share (SETTINGS.md §1)
    init: str = "msra"         # the filler of a run without the jitter (which alternates them)
    extra: dict = field(default_factory=dict)  # columns carried into the tidy CSV (e.g. tbs)
    # one run of the curve (figure_runs), else the defaults
    figure: str = ""
    profile: str = ""
    model: str = ""            # models.build_model name
    seed: int = 0
    replicate: int = 0
    eval_every: int = 0        # test interval in iterations
    max_steps: int = 0         # > 0: the run stops after this many of its `steps` (truncated)

    @property
    def run_steps(self) -> int:
        """The updates this run trains: all its steps, or the first max_steps of them."""
        return min(self.steps, self.max_steps) if self.max_steps else self.steps

    @property
    def truncated(self) -> bool:
        return 0 < self.max_steps < self.steps

    @property
    def log_every(self) -> int:
        """Steps between reads of the losses: every 10 in a range test (its stop rule reads
        them), else at most 50 and never past an evaluation or the run's end. The engine's fusion
        key holds it, so the runs and the estimate must take it from here alike."""
        return 10 if self.range_test else min(50, self.eval_every, self.run_steps)


def _one_cycle(lr_min, lr_max, step_size, mom=(0.95, 0.85)):
    return {"kind": "one-cycle", "style": "smith", "lr_min": lr_min, "lr_max": lr_max,
            "step_size": step_size, "mom_max": mom[0], "mom_min": mom[1]}


def paper_runs(figure: str) -> list[RunSpec]:
    """The runs of `figure` exactly as SETTINGS.md gives them (section in brackets)."""
    if figure == "fig1a":
        # [§3, Fig 1a] Fig 1a's own run settings are not in Smith's files; only its axis (lr 0 to
        # 0.4, linear) is known. Assumed here: TBS 512, 20k iterations, momentum 0.9, WD 1e-4.
        # The first sweep draws Fig 1a; the second goes on to 3.0, the "large" lr §5 gives for a
        # ResNet-56 range test, so that the test loss can turn up and lr_max be read off.
        def sweep(lr_max):
            return {"kind": "linear", "lr_min": 0.0, "lr_max": lr_max, "momentum": 0.9}
        return [RunSpec("LR range 0-0.4", sweep(0.4), 20_000, 512, 1e-4, range_test=True),
                RunSpec("LR range 0-3", sweep(3.0), 20_000, 512, 1e-4, range_test=True)]
    if figure in ("fig5a", "fig5b"):
        # [§4 Fig 5a/5b] super-convergence: Caffe SGD, TBS 1000 over 8 GPUs of 125 (BN shards),
        # BN maf 0.95 for CLR, 0.999 else.
        clr = {"kind": "triangular", "lr_min": 0.1, "lr_max": 3.0, "step_size": 5_000,
               "momentum": 0.9}
        if figure == "fig5a":
            const = {"kind": "multistep", "lr": 0.35, "milestones": [50_000, 70_000],
                     "gamma": 0.1, "momentum": 0.9}
            return [RunSpec("CLR=0.1-3", clr, 10_000, 1000, 1e-4, "caffe-sgd", 0.05, jitter=False,
                            bn_shards=8),
                    RunSpec("LR=0.35", const, 80_000, 1000, 1e-4, "caffe-sgd", 0.001,
                            jitter=False, bn_shards=8)]
        return [RunSpec(f"Weight decay={wd:g}", clr, 10_000, 1000, wd, "caffe-sgd", 0.05,
                        jitter=False, bn_shards=8, extra={"wd": wd})
                for wd in (1e-3, 1e-4, 1e-5, 1e-6)]
    if figure == "fig8a":
        # [§4 Fig 8a] gResnet56, TBS 1024 + jitter (titled 1030), 1cycle 0.1-1 step 9k, WD 5e-5.
        variants = (("Momentum=0.9", (0.9, 0.9)), ("CM range=0.85-0.95", (0.85, 0.95)),
                    ("CM range=0.95-0.85", (0.95, 0.85)))
        return [RunSpec(label, _one_cycle(0.1, 1.0, 9_000, mom), 20_000, 1024, 5e-5)
                for label, mom in variants]
    if figure == "fig8b":
        # [§4 Fig 8b] TBS, lr range, max_iter, step; epochs 120/95/70/48 as Smith's job script ran
        # them (the paper's text says 116 for TBS 1024, i.e. 5,664 iterations).
        rows = ((1024, 0.1, 1.0, 5_859, 2_490), (512, 0.08, 0.8, 9_277, 4_003),
                (256, 0.06, 0.6, 13_671, 6_054), (128, 0.04, 0.4, 18_750, 8_203))
        return [RunSpec(f"TBS={tbs}, LR={lo:g}-{hi:g}", _one_cycle(lo, hi, step), iters, tbs,
                        1e-4, extra={"tbs": tbs}) for tbs, lo, hi, iters, step in rows]
    if figure == "fig15a":
        # [§4 Fig 15a] range test 0.1 -> 1.0 over 50 epochs at TBS 512, momentum 0.95 -> 0.85.
        sweep = {"kind": "linear", "lr_min": 0.1, "lr_max": 1.0, "mom_max": 0.95, "mom_min": 0.85}
        return [RunSpec(f"WD={wd:g}", sweep, 4_882, 512, wd, range_test=True, extra={"wd": wd})
                for wd in (3e-4, 1e-4, 1e-5)]
    if figure == "fig15b":
        rows = ((256, 0.05, 0.5, 16_601, 8_007), (512, 0.09, 0.9, 9_765, 4_394),
                (1024, 0.1, 1.2, 7_080, 3_417))
        return [RunSpec(f"TBS={tbs}, LR={lo:g}-{hi:g}", _one_cycle(lo, hi, step), iters, tbs,
                        1e-4, extra={"tbs": tbs}) for tbs, lo, hi, iters, step in rows]
    raise ConfigError(f"figure {figure!r} is unknown; choose one of {', '.join(FIGURES)}")


FIGURES = ("fig1a", "fig5a", "fig5b", "fig8a", "fig8b", "fig15a", "fig15b")


def get_profile(name: str) -> Profile:
    if name not in PROFILE_SETTINGS:
        raise ConfigError(f"profile {name!r} is unknown; choose one of {', '.join(PROFILES)}")
    return PROFILE_SETTINGS[name]


def model_for(figure: str, profile: str) -> str:
    """The network of `figure` under `profile`: Fig 5's super-convergence ResNet-56 or the
    gResnet56 of every other figure, or the profile's stand-in for them."""
    prof = get_profile(profile)
    return prof.model_fig5 if figure.startswith("fig5") else prof.model


def seeds_for(figure: str, profile: str) -> tuple[int, ...]:
    """The seeds of `figure` under `profile`: the plan lock's runs per curve (0, 1, ...) where it
    locks this profile, else the figure's Scale.seeds where it sets them, else the profile's."""
    from .plan.lock import locked_seeds
    n = locked_seeds(figure, profile) or scale_for(figure, profile).seeds
    return tuple(range(n)) if n else get_profile(profile).seeds


def eval_subset_for(figure: str, profile: str) -> int | None:
    """Test images per evaluation: Smith's hyperParam1 runs scored 6,400; the super-convergence
    runs (Fig 5) read all 10,000 (None)."""
    subset = get_profile(profile).test_subset
    return None if figure.startswith("fig5") and profile == "paper" else subset


def scale_for(figure: str, profile: str) -> Scale:
    get_profile(profile)
    if figure not in SCALES:
        raise ConfigError(f"figure {figure!r} is unknown; choose one of {', '.join(FIGURES)}")
    return SCALES[figure][profile]


def runs_for(figure: str, profile: str) -> list[RunSpec]:
    """The runs of `figure` under `profile`: the paper's, with iterations and batch scaled."""
    prof, scale = get_profile(profile), scale_for(figure, profile)

    def iters(n: int) -> int:
        return max(2, round(n * scale.iters))

    runs = []
    for spec in paper_runs(figure):
        sched = dict(spec.schedule)
        for key in ("step_size",):
            if key in sched:
                sched[key] = iters(sched[key])
        if "milestones" in sched:
            sched["milestones"] = [iters(m) for m in sched["milestones"]]
        bn = spec.bn_momentum if prof.bn_momentum is None else prof.bn_momentum
        runs.append(replace(spec, schedule=sched, steps=iters(spec.steps),
                            batch_size=max(8, round(spec.batch_size * scale.batch)),
                            bn_momentum=bn, bn_shards=prof.bn_shards or spec.bn_shards))
    return runs


def figure_runs(figure: str, profile: str, seeds=None, *, max_steps: int = 0) -> list[RunSpec]:
    """Every run of `figure` under `profile`: each curve once per seed (default: the profile's),
    in curve order, with its replicate's batch size and init (jittered), model and test
    interval; max_steps > 0 truncates each run to its first max_steps steps."""
    seeds = list(seeds) if seeds else list(seeds_for(figure, profile))
    model, eval_every = model_for(figure, profile), scale_for(figure, profile).eval_every
    runs = []
    for spec in runs_for(figure, profile):
        for replicate, seed in enumerate(seeds):
            batch_size, init = jittered(spec, replicate, profile)
            runs.append(replace(spec, batch_size=batch_size, init=init, figure=figure,
                                profile=profile, model=model, seed=seed, replicate=replicate,
                                eval_every=eval_every, max_steps=max_steps))
    return runs


def jittered(spec: RunSpec, replicate: int, profile: str) -> tuple[int, str]:
    """(batch size, init) of replicate k: Smith's x4.sh ran per-GPU batches BS+3, BS+2, BS+1, BS
    on 4 GPUs (TBS +12, +8, +4, +0) with xavier/msra/xavier/msra; otherwise (TBS, the run's own
    init, msra unless set)."""
    if not (get_profile(profile).jitter and spec.jitter):
        return spec.batch_size, spec.init
    return spec.batch_size + 4 * (3 - replicate % 4), ("xavier", "msra")[replicate % 2]


def smith_log_run() -> RunSpec:
    """The run of Smith's own log (../shared/paper/logs/gResnet56_ResTBS512...M.95...BS128b_1).

    It is not a Fig 8b run: its header prints `momentum: 0.95` and `cyclical_momentum: 0.95`, so
    the momentum stays 0.95 throughout, as in Fig 6a (the TBS study of Fig 8b with constant
    momentum, SETTINGS.md §4: "the log ... (constant 0.95, i.e. a Fig 6a run)"). Its printed net
    has xavier fillers and a data layer of 128 x 3 x 32 x 32 per GPU: one run at TBS 512 exactly,
    from an older job script without the x4.sh jitter. Everything else is Fig 8b's TBS-512 run,
    taken from `paper_runs` rather than typed again.
    """
    spec = next(r for r in paper_runs("fig8b") if r.extra["tbs"] == 512)
    return replace(spec, label="TBS=512, LR=0.08-0.8, Mom=0.95 (Smith's log)",
                   schedule={**spec.schedule, "mom_max": 0.95, "mom_min": 0.95},
                   jitter=False, init="xavier")
