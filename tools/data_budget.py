"""The paper's Figure 3 for a config: images, instances and pixels seen by
ImageNet pre-training + fine-tuning vs training from scratch.

    python tools/data_budget.py configs/scratch/mask_rcnn_r50_gn_6x.py --finetune-schedule 2x

Schedules: Nx (N x 90k iterations), 220k / 60000 (iterations), 12e (epochs),
all at the config's batch. The training data is the config's (its annotation
file if present; COCO train2017 constants otherwise) or --ann-file; the input
pixels follow the config's train-time resize. Pre-training is ImageNet's
(1.28M images x --pretrain-epochs) unless --pretrain-config names the config
of another pre-training run (e.g. the mini paper's
configs/demo/resnet18_gn_cls_pretrain.py): its training set and schedule are
counted instead. Prints Markdown; --out-json writes the numbers.
"""

from mmscratch.analysis.data_budget import (IMAGENET_EPOCHS, budget_markdown, config_budget,
                                            to_json)
from mmscratch.utils.config_loading import load_config
from mmscratch.datasets.subsets import parse_size
from mmscratch.analysis.pretrain_budget import pretrain_config_budget
from mmscratch.apis.cli import CfgOptionsAction, ToolFailure, ToolParser, run_cli
from mmscratch.utils.atomic_io import atomic_write_text


def main(argv=None):
    parser = ToolParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file (or mmscratch::REL)')
    parser.add_argument('--schedule',
                        help="scratch schedule, e.g. 6x, 220k (default: the config's)")
    parser.add_argument('--finetune-schedule',
                        help='fine-tuning schedule of the pretrained arm (default: --schedule)')
    parser.add_argument('--dataset-size', type=parse_size,
                        help='training images (e.g. 35000 for a subset); per-image means '
                        'still come from the data')
    parser.add_argument('--ann-file', help='training annotations to count (default: the config\'s)')
    parser.add_argument('--pretrain-epochs', type=float, default=IMAGENET_EPOCHS,
                        help=f'ImageNet epochs of pre-training (default {IMAGENET_EPOCHS})')
    parser.add_argument('--pretrain-config',
                        help='count this pre-training config (its data and schedule) instead '
                        'of ImageNet')
    parser.add_argument('--pretrain-cfg-options', nargs='+', action=CfgOptionsAction,
                        help='overrides for --pretrain-config (key=value)')
    parser.add_argument('--images-per-epoch', action='store_true',
                        help='also report images per epoch and epochs of each arm')
    parser.add_argument('--out-json', help='write the numbers as JSON')
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        pretrain, pretrain_epochs = None, args.pretrain_epochs
        if args.pretrain_config:
            pretrain, pretrain_images = pretrain_config_budget(
                load_config(args.pretrain_config, args.pretrain_cfg_options))
            pretrain_epochs = pretrain_images / pretrain.images
        budget = config_budget(cfg, schedule=args.schedule,
                               finetune_schedule=args.finetune_schedule, ann_file=args.ann_file,
                               dataset_size=args.dataset_size,
                               pretrain_epochs=pretrain_epochs, pretrain=pretrain)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise ToolFailure(str(exc)) from None
    name = args.config.rsplit('/', 1)[-1]
    print(budget_markdown(budget, budget['schedules']['finetune'], budget['schedules']['scratch'],
                          title=f'Data seen: {name}', epochs=args.images_per_epoch))
    if args.out_json:
        atomic_write_text(args.out_json, to_json(budget))
    return budget


if __name__ == '__main__':
    run_cli(main)
