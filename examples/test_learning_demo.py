"""The learning demo: the solver fails every task, learns a lesson from the feedback, then passes them all."""

from __future__ import annotations

import pytest
from learning_demo import LESSON, TASKS, LessonFollowingLLM, demo, grade

from hal9 import Layer


@pytest.mark.anyio
async def test_effectiveness_goes_from_none_to_all_and_the_lesson_is_kept() -> None:
    result = await demo()
    assert result.before == 0.0
    assert result.after == 1.0
    assert result.lessons == [(LESSON, "kept")]
    assert result.prompt.endswith(f"- {LESSON}")


@pytest.mark.anyio
async def test_the_scripted_model_states_units_only_when_its_prompt_says_so() -> None:
    llm = LessonFollowingLLM()
    task = TASKS[0]
    bare = await llm.complete(system="Convert.", prompt=task.question, layer=Layer.L2)
    taught = await llm.complete(system=f"Convert.\n- {LESSON}", prompt=task.question, layer=Layer.L2)
    assert not grade(task, bare.text)
    assert grade(task, taught.text)
