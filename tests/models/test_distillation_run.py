"""The summaries the DistilBERT page reports over seeds: kept quality, speed-up, and which seeds."""

import pytest

from bertcourse.models.distillation_run import DistillationConfig, kept_fraction, seeds_for, speedup


@pytest.mark.parametrize("after, expected", [(0.5, 1.0), (0.1, 0.0), (0.3, 0.5)])
def test_kept_fraction_measures_above_chance(after, expected):
    result = {"accuracy": {"teacher": 0.5, "student after": after, "chance": 0.1}}
    assert kept_fraction(result) == pytest.approx(expected)


def test_speedup_is_teacher_time_over_student_time():
    assert speedup({"seconds_per_batch": {"teacher": 0.3, "student": 0.15}}) == pytest.approx(2.0)


@pytest.mark.parametrize("profile, expected", [("ci", (0,)), ("cpu", (0, 1, 2)), ("gpu", (0,))])
def test_seeds_for_profile(profile, expected):
    assert seeds_for(DistillationConfig.for_profile(profile)) == expected
