"""The password policy (DESIGN §3)."""

from __future__ import annotations

import pytest

from app.security.passwords import policy_problems


@pytest.mark.parametrize(
    "password", ["UserPass123!", "Correct-Horse-42", "zebra stapler 9", "Ünïcödé-Pässwörd"]
)
def test_acceptable_passwords(password):
    assert policy_problems(password) == []


@pytest.mark.parametrize("password", ["qwertyuiop", "Password1!", "iloveyou12", "Football2024"])
def test_common_passwords_and_their_variants_are_refused(password):
    assert any("common" in p for p in policy_problems(password))


def test_every_problem_is_reported_at_once():
    problems = policy_problems("aaaa")
    assert len(problems) == 2  # too short, one class
