"""The names each flag accepts, spelled out here so that `--help` needs no torch.

Why copies: the library keeps these lists beside the code that uses them (models.MODEL_NAMES,
optim.OPTIMIZERS, ...), and those modules import torch, which takes seconds. The command line
lists every choice in its help and checks it at parse time, before anything heavy loads;
tests/test_cli.py checks that each list here equals the library's.
"""
DATASETS = ("cifar10", "cifar100", "synthetic")
MODELS = ("resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
          "resnet56-sc", "gresnet56")
INITS = ("msra", "xavier", "torch")
AUGMENTATIONS = ("none", "flip", "crop-flip")
NORMALIZATIONS = ("channel", "mean-image")
OPTIMIZERS = ("sgd", "nesterov", "caffe-sgd", "caffe-nesterov", "adam", "adamw")
PRECISIONS = ("auto", "fp32", "bf16")
FUSE = ("auto", "on", "off")
CAPTURE = ("auto", "off")
SCHEDULES = ("one-cycle", "triangular", "multistep", "constant", "linear", "exp")
RANGE_MODES = ("linear", "exp")
ONE_CYCLE_STYLES = ("smith", "three-phase")
PROFILES = ("smoke", "small", "paper")
FIGURES = ("fig1a", "fig5a", "fig5b", "fig8a", "fig8b", "fig15a", "fig15b")
LAUNCHERS = ("sequential", "ray")
