"""The paper's schedule rule (mmscratch.recipe.schedule), in numbers.

The paper: 1x = 90k iterations at batch 16, LR x0.1 at the last 60k and the
last 20k iterations whatever the length (6x: steps at 480k and 520k); the
warm-up is Detectron's, 500 iterations from 1/3. Other batches follow the
linear scaling rule: twice the batch, half of every iteration count.
"""
import math

import pytest

from mmscratch.recipe.schedule import (ScratchSchedule, paper_drops, paper_schedule,
                                       parse_schedule, rescale_schedule_length,
                                       resolve_schedule, scale_schedule, schedule_in_epochs,
                                       schedule_label)

# (multiple, total, first step, second step) at batch 16, written out by hand.
PAPER_NUMBERS = [
    (1, 90_000, 30_000, 70_000),
    (2, 180_000, 120_000, 160_000),
    (3, 270_000, 210_000, 250_000),
    (4, 360_000, 300_000, 340_000),
    (5, 450_000, 390_000, 430_000),
    (6, 540_000, 480_000, 520_000),
    (9, 810_000, 750_000, 790_000),
]


@pytest.mark.parametrize('multiple,total,step1,step2', PAPER_NUMBERS)
def test_paper_lengths_and_steps(multiple, total, step1, step2):
    schedule = paper_schedule(multiple)
    assert schedule.total_iters == total
    assert schedule.steps == (step1, step2)
    assert schedule.warmup_iters == 500
    assert schedule.warmup_factor == pytest.approx(1 / 3)
    assert schedule.gamma == 0.1
    assert schedule.batch_size == 16


# 6x re-expressed for other total batches: (batch, total, steps, warm-up).
SCALED_6X = [
    (8, 1_080_000, (960_000, 1_040_000), 1000),
    (16, 540_000, (480_000, 520_000), 500),
    (32, 270_000, (240_000, 260_000), 250),
    (64, 135_000, (120_000, 130_000), 125),
]


@pytest.mark.parametrize('batch,total,steps,warmup', SCALED_6X)
def test_linear_scaling_of_6x(batch, total, steps, warmup):
    scaled = scale_schedule(paper_schedule(6), batch)
    assert (scaled.total_iters, scaled.steps, scaled.warmup_iters) == (total, steps, warmup)
    assert scaled.batch_size == batch
    # the images seen, and where the LR drops in images, do not change
    assert scaled.total_iters * batch == 540_000 * 16
    assert [s * batch for s in scaled.steps] == [480_000 * 16, 520_000 * 16]
    # nor does the warm-up's starting factor or the drop factor
    assert scaled.warmup_factor == pytest.approx(1 / 3) and scaled.gamma == 0.1


def test_scaling_to_the_same_batch_is_identity_and_round_trips():
    six = paper_schedule(6)
    assert scale_schedule(six, 16) is six
    assert scale_schedule(scale_schedule(six, 32), 16) == six
    assert scale_schedule(scale_schedule(six, 8), 16) == six


def test_scaling_keeps_small_counts_positive():
    tiny = paper_schedule(total_iters=100, drops_before_end=(40, 10), warmup_iters=5,
                          batch_size=4)
    assert scale_schedule(tiny, 32).warmup_iters == 1  # 5 / 8 rounds to 1, not 0


def test_scaling_refuses_a_batch_that_collapses_the_schedule():
    tiny = paper_schedule(total_iters=100, drops_before_end=(40, 10), warmup_iters=5,
                          batch_size=4)
    with pytest.raises(ValueError):
        scale_schedule(tiny, 4096)  # 100 iterations at batch 4 is 1 at 4096


def test_explicit_total_and_drops():
    schedule = paper_schedule(total_iters=1000, drops_before_end=(200, 70),
                              warmup_iters=100, warmup_factor=0.5, batch_size=4)
    assert schedule.total_iters == 1000
    assert schedule.steps == (800, 930)
    assert (schedule.warmup_iters, schedule.warmup_factor, schedule.batch_size) == (100, 0.5, 4)
    # the multiple is ignored when the total is given
    assert paper_schedule(9, total_iters=1000, drops_before_end=(200, 70),
                          warmup_iters=100).total_iters == 1000


def test_drops_are_sorted_into_increasing_steps():
    assert paper_schedule(2, drops_before_end=(20_000, 60_000)).steps == (120_000, 160_000)


def test_lr_factor_over_6x():
    six = paper_schedule(6)
    assert six.lr_factor(0) == pytest.approx(1 / 3)
    assert six.lr_factor(250) == pytest.approx(1 / 3 + (1 - 1 / 3) * 0.5)
    assert six.lr_factor(499) == pytest.approx(1 / 3 + (1 - 1 / 3) * 499 / 500)
    assert six.lr_factor(500) == 1.0
    assert six.lr_factor(479_999) == 1.0
    assert six.lr_factor(480_000) == pytest.approx(0.1)
    assert six.lr_factor(519_999) == pytest.approx(0.1)
    assert six.lr_factor(520_000) == pytest.approx(0.01)
    assert six.lr_factor(539_999) == pytest.approx(0.01)


def test_lr_factor_warmup_is_linear_and_then_piecewise_constant():
    schedule = paper_schedule(total_iters=300, drops_before_end=(100, 50), warmup_iters=20)
    factors = [schedule.lr_factor(i) for i in range(300)]
    warmup = factors[:20]
    increments = {round(b - a, 12) for a, b in zip(warmup, warmup[1:])}
    assert len(increments) == 1 and increments.pop() > 0
    assert set(factors[20:200]) == {1.0}
    assert set(round(f, 12) for f in factors[200:250]) == {0.1}
    assert set(round(f, 12) for f in factors[250:]) == {0.01}


def test_no_warmup():
    schedule = paper_schedule(1, warmup_iters=0)
    assert schedule.lr_factor(0) == 1.0


def test_describe_names_the_numbers():
    text = paper_schedule(6).describe()
    for number in ('540000', '480000', '520000', '500', 'batch 16'):
        assert number in text


@pytest.mark.parametrize('kwargs', [
    dict(multiple=0),
    dict(multiple=-1),
    dict(multiple=0.5),  # 45k iterations: the drop 60k before the end is before 0
    dict(total_iters=50_000),
    dict(multiple=1, warmup_iters=40_000),  # warm-up past the first step at 30k
    dict(multiple=1, warmup_factor=0),
    dict(multiple=1, warmup_factor=1.5),
])
def test_invalid_schedules_are_refused(kwargs):
    with pytest.raises(ValueError):
        paper_schedule(**kwargs)


def test_schedule_validates_itself():
    with pytest.raises(ValueError):
        ScratchSchedule(total_iters=100, steps=(80, 50))
    with pytest.raises(ValueError):
        ScratchSchedule(total_iters=100, steps=(100,))
    with pytest.raises(ValueError):
        ScratchSchedule(total_iters=0, steps=())


def test_scale_schedule_refuses_a_batch_of_zero():
    with pytest.raises(ValueError):
        scale_schedule(paper_schedule(1), 0)


def test_schedule_in_epochs_for_coco():
    coco_images = 118_287
    converted = schedule_in_epochs(paper_schedule(6), coco_images, 16)
    iters_per_epoch = math.ceil(coco_images / 16)
    assert converted['iters_per_epoch'] == iters_per_epoch == 7393
    assert converted['max_epochs'] == math.ceil(540_000 / iters_per_epoch) == 74
    assert converted['milestones'] == [round(480_000 / 7393), round(520_000 / 7393)] == [65, 70]
    assert converted['warmup_iters'] == 500
    assert converted['schedule'] == paper_schedule(6)


def test_schedule_in_epochs_counts_images_not_iterations():
    """Same dataset, batch 8 or 32: the same epochs (images), other iterations.

    1000 images at batch 32 make epochs of 32 iterations, the last one partial;
    counting iterations would train 1407 epochs instead of the 1440 the rule's
    1.44M images (90k x 16) take.
    """
    small = schedule_in_epochs(paper_schedule(1), 1000, 8)
    large = schedule_in_epochs(paper_schedule(1), 1000, 32)
    assert small['max_epochs'] == 90_000 * 16 // 1000 == 1440
    assert large['max_epochs'] == small['max_epochs']
    assert small['milestones'] == large['milestones'] == [30_000 * 16 // 1000,
                                                         70_000 * 16 // 1000]
    assert small['warmup_iters'] == 1000 and large['warmup_iters'] == 250


def test_schedule_in_epochs_refuses_an_empty_dataset():
    with pytest.raises(ValueError):
        schedule_in_epochs(paper_schedule(1), 0, 16)


def test_paper_drops_keep_the_1x_shape_under_1x():
    assert paper_drops(540_000) == paper_drops(90_000) == (60_000, 20_000)
    assert paper_drops(45_000) == (30_000, 10_000)
    assert paper_drops(900) == (600, 200)


@pytest.mark.parametrize('text, expected, label', [
    ('6x', dict(multiple=6), '6x'), ('9X', dict(multiple=9), '9x'),
    (' 2.5 x ', dict(multiple=2.5), '2.5x'), (4, dict(multiple=4), '4x'),
    (0.5, dict(multiple=0.5), '0.5x'),
    ('220k', dict(total_iters=220_000), '220k it'),
    ('60000', dict(total_iters=60_000, drops_before_end=(40_000, 13_333)), '60k it'),
    ('1.5k', dict(total_iters=1_500, drops_before_end=(1_000, 333)), '1500 it'),
    ('12e', dict(epochs=12.0), '12e'),
    (dict(total_iters=1000, drops_before_end=(200, 70)),
     dict(total_iters=1000, drops_before_end=(200, 70)), '1k it'),
])
def test_one_schedule_grammar(text, expected, label):
    assert parse_schedule(text) == expected
    assert schedule_label(parse_schedule(text)) == label


@pytest.mark.parametrize('text', ['six', 'x', '6y', '1.5', '', '-3x'])
def test_the_grammar_refuses_garbage(text):
    with pytest.raises(ValueError, match='schedule'):
        parse_schedule(text)


def test_resolve_schedule_counts_iterations_and_refuses_epochs():
    assert resolve_schedule('6x') == paper_schedule(6)
    assert resolve_schedule('220k').steps == (160_000, 200_000)
    assert resolve_schedule('60000').steps == (20_000, 46_667)
    assert resolve_schedule('6x', batch_size=64).batch_size == 64
    with pytest.raises(ValueError, match='epochs'):
        resolve_schedule('12e')
    with pytest.raises(ValueError):  # the rule's last 60k do not fit in 45k
        resolve_schedule('0.5x')


def test_rescale_schedule_length_keeps_the_fractions():
    demo = dict(total_iters=1500, drops_before_end=(300, 100), warmup_iters=100,
                warmup_factor=0.001)
    short = rescale_schedule_length(demo, 300)
    assert short == dict(total_iters=300, drops_before_end=[60, 20], warmup_iters=20,
                         warmup_factor=0.001)
    long = paper_schedule(**rescale_schedule_length(demo, 3000))
    assert long.steps == (2400, 2800) and long.warmup_iters == 200
    # a multiple of 1x is rescaled too, the default warm-up with it
    assert rescale_schedule_length(dict(multiple=6), 5400) == dict(
        total_iters=5400, drops_before_end=[600, 200], warmup_iters=5)
    # tiny lengths keep distinct drops inside the schedule
    tiny = rescale_schedule_length(demo, 4)
    assert tiny['drops_before_end'] == [2, 1] and paper_schedule(**tiny).steps == (2, 3)
    with pytest.raises(ValueError):
        rescale_schedule_length(demo, 0)
