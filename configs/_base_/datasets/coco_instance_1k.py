# COCO instance segmentation trained on a random 1,000-image subset of train2017 (one of
# the paper's small-data regimes: 1k, 3.5k, 10k, 35k); validation on the full val2017.
# The subset file is made once, nested in the larger ones for the same seed:
#   python tools/make_subset.py data/coco/annotations/instances_train2017.json \
#       --images 1000 3500 10000 35000 --seed 0 \
#       --out data/coco/annotations/instances_train2017_{size}.json
# (docs/small_data.md). Everything else is coco_instance.py.
_base_ = './coco_instance.py'

train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train2017_1k.json'))
