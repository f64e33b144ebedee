import dataclasses

import pytest
import torch

from nlp_apps.training.trainer import Trainer, TrainerConfig
from nlp_apps.training.weight_average import WeightAverage
from tests.conftest import make_tiny_config
from tests.test_trainer import InterruptAt, make_task, no_save


def test_the_average_follows_the_weights_with_a_decay_that_grows_to_its_setting():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, decay=0.5)
    expected = 0.0
    for step, value in enumerate([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]):
        decay = min(0.5, (2 + step) / (11 + step))  # (1 + n) / (10 + n) after n updates: 2/11, 3/12, ...
        with torch.no_grad():
            model.weight.fill_(value)
        average.update()
        expected = decay * expected + (1 - decay) * value
        assert average.averaged["weight"].item() == pytest.approx(expected)
    assert average.current_decay() == 0.5


def test_applied_swaps_the_average_in_and_the_raw_weights_back_even_after_an_error():
    model = torch.nn.Linear(3, 2)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    average = WeightAverage(model, decay=0.9)
    for tensor in average.averaged.values():
        tensor.add_(1.0)
    with pytest.raises(RuntimeError, match="inside"), average.applied():
        torch.testing.assert_close(model.weight, raw["weight"] + 1.0)
        raise RuntimeError("inside")
    for name, value in raw.items():
        assert torch.equal(model.state_dict()[name], value)


def test_a_bad_decay_is_refused():
    with pytest.raises(ValueError, match="average_decay"):
        TrainerConfig(average_decay=1.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightAverage(torch.nn.Linear(1, 1), 0.0)


AVERAGED = TrainerConfig(epochs=2, eval_every=25, lr=0.01, progress=False, seed=3, patience=None, average_decay=0.9)


def test_the_best_model_is_the_average_and_training_steps_the_raw_weights(tmp_path, tiny_config):
    task = make_task(tiny_config)
    trainer = Trainer(task, AVERAGED, tmp_path)
    saves = []  # (exact, whether the model held the average then)

    def save(directory, exact=False):
        holds = all(torch.equal(p, trainer.weight_average.averaged[n]) for n, p in task.model.named_parameters())
        saves.append((exact, holds))

    task.save = save
    trainer.fit()
    best_saves = [holds for exact, holds in saves if not exact]
    resumable_saves = [holds for exact, holds in saves if exact]  # last/: the raw weights the optimizer steps
    assert best_saves and all(best_saves)
    assert resumable_saves and not any(resumable_saves)


def test_resuming_continues_the_average_exactly(tmp_path):
    straight = no_save(make_task(make_tiny_config()))
    straight_trainer = Trainer(straight, AVERAGED, tmp_path / "a")
    straight_trainer.fit()

    first = no_save(make_task(make_tiny_config()))
    assert Trainer(first, AVERAGED, tmp_path / "b", callbacks=[InterruptAt(37)]).fit().status == "interrupted"
    second = no_save(make_task(make_tiny_config(), seed=123))
    resumed = Trainer(second, AVERAGED, tmp_path / "b")
    resumed.fit(resume=True)
    assert resumed.weight_average.updates == straight_trainer.weight_average.updates
    for name, value in straight_trainer.weight_average.averaged.items():
        torch.testing.assert_close(resumed.weight_average.averaged[name], value, rtol=0, atol=0, msg=name)


def test_without_the_option_nothing_is_averaged(tmp_path, tiny_config):
    trainer = Trainer(no_save(make_task(tiny_config)), dataclasses.replace(AVERAGED, average_decay=None, epochs=1), tmp_path)
    trainer.fit()
    assert trainer.weight_average is None
