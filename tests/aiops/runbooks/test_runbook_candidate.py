"""Which new model version a retrain run validates: its own, never another team's."""

from __future__ import annotations

import json

from opsloop.aiops.runbooks.runner import RUN_TAG, pick_candidate, run_context


def test_the_run_tagged_version_wins_over_newer_ones() -> None:
    found = [(4, {RUN_TAG: "7"}), (5, {}), (6, {RUN_TAG: "8"})]
    assert pick_candidate(found, 7, "m") == (4, "")


def test_the_newest_of_several_own_versions() -> None:
    assert pick_candidate([(4, {RUN_TAG: "7"}), (5, {RUN_TAG: "7"})], 7, "m") == (5, "")


def test_a_single_untagged_version_is_taken_and_other_runs_versions_never() -> None:
    assert pick_candidate([(3, {RUN_TAG: "1"}), (4, {"team": "x"})], 7, "m") == (4, "")
    version, why = pick_candidate([(3, {RUN_TAG: "1"})], 7, "m")
    assert version is None and "registered no new version of 'm'" in why


def test_several_untagged_versions_are_ambiguous() -> None:
    version, why = pick_candidate([(4, {}), (5, {})], 7, "m")
    assert version is None
    assert "2 new versions of 'm'" in why and "4, 5" in why and f"{RUN_TAG}=7" in why


def test_nothing_new_is_a_failure() -> None:
    assert pick_candidate([], 7, "m")[0] is None


def test_run_context_keeps_the_tags_already_asked_for() -> None:
    assert json.loads(run_context(None, 3)) == {RUN_TAG: "3"}
    assert json.loads(run_context('{"team": "ml"}', 3)) == {"team": "ml", RUN_TAG: "3"}
    assert json.loads(run_context("not json", 3)) == {RUN_TAG: "3"}
    assert json.loads(run_context('["a"]', 3)) == {RUN_TAG: "3"}
