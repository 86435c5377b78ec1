"""Training recipes by name: the toolkit's default, the paper's exact recipe, the original
toolkit's AdaGrad recipe. ``train.py --recipe NAME``; any option given explicitly wins.

Why the default differs from the paper (measured in ``docs/training/recipes/``): the
Soft-IoU is computed over the whole batch, and while every pixel starts near probability
0.5 it is flat in the overall probability level (soft IoU ~= targets / pixels whatever
that level), so its gradients are tiny; the toolkit then divided them by the batch size
once more. Nesterov's method at lr 0.05 barely moves on that plateau (AdaGrad, which
normalises the gradient's scale, does). Starting the output at the targets' prior and
stepping on the loss's own gradient makes NAG learn from the first epoch.
"""
from collections import OrderedDict, namedtuple

__all__ = ['Recipe', 'RECIPES', 'RECIPE_OPTIONS', 'MOMENTUM', 'WEIGHT_DECAY', 'apply_recipe',
           'matching_recipe', 'optimizer_params', 'optimizer_settings']

#: the paper's momentum and weight decay, shared by every recipe
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4

Recipe = namedtuple('Recipe', ['optimizer', 'lr', 'output_prior', 'grad_normalization',
                               'bn_batches', 'description'])

#: name -> recipe. ``output_prior`` 0 leaves the last bias at 0 (probability 0.5);
#: ``grad_normalization`` 'batch' divides the batch-level loss's gradient by the batch size
#: as the toolkit did, 'none' steps on the gradient as it is. ``bn_batches`` > 0 recomputes
#: batch norm's statistics from that many training batches before each validation
#: (engine/batchnorm_stats.py); 0 scores with the running averages, as the toolkit did.
RECIPES = OrderedDict([
    ('default', Recipe('nag', 0.05, 0.001, 'none', 4,
                       "the paper's NAG (lr 0.05, momentum 0.9, wd 1e-4, poly), output bias "
                       'at a target prior of 0.001, gradient not divided by the batch size, '
                       'batch-norm statistics recomputed before each validation')),
    ('paper', Recipe('nag', 0.05, 0.0, 'batch', 0,
                     "the paper's recipe exactly as the toolkit ran it: NAG, bias 0, gradient "
                     'divided by the batch size')),
    ('toolkit', Recipe('adagrad', 0.05, 0.0, 'batch', 0,
                       "the original toolkit's default: AdaGrad, constant lr 0.05, bias 0")),
])

#: the options a recipe sets (each also a command-line option that overrides it)
RECIPE_OPTIONS = ('optimizer', 'lr', 'output_prior', 'grad_normalization', 'bn_batches')


def apply_recipe(args):
    """Fill every recipe option left unset (None) in ``args`` from ``args.recipe``."""
    recipe = RECIPES[args.recipe]
    for key in RECIPE_OPTIONS:
        if getattr(args, key, None) is None:
            setattr(args, key, getattr(recipe, key))
    return args


def matching_recipe(arguments):
    """The name of the recipe whose options a run's ``arguments`` (a saved ``args.json``)
    match, batch-norm batches aside (older runs have none), or None. Options a run from
    before recipes lacks count as what it trained with: output prior 0, gradient divided
    by the batch."""
    options = dict(arguments, output_prior=arguments.get('output_prior', 0.0),
                   grad_normalization=arguments.get('grad_normalization', 'batch'))
    for name, recipe in RECIPES.items():
        if all(options.get(key) == getattr(recipe, key) for key in RECIPE_OPTIONS
               if key != 'bn_batches'):
            return name
    return None


def optimizer_params(optimizer, lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY):
    """``gluon.Trainer``'s optimizer parameters (no schedule) for these settings."""
    params = {'learning_rate': lr, 'wd': weight_decay}
    if optimizer in ('nag', 'sgd'):
        params['momentum'] = momentum
    return params


def optimizer_settings(name='default'):
    """``(optimizer, params)`` of a recipe for ``gluon.Trainer``, without a schedule (for
    timing a training step)."""
    recipe = RECIPES[name]
    return recipe.optimizer, optimizer_params(recipe.optimizer, recipe.lr)
