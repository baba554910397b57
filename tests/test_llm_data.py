"""Preference rows from JSONL and saved datasets; bad rows give one-line errors."""

import json

import pytest

pytest.importorskip("datasets", reason="the llm extra (datasets) is not installed")

from mirrorpo.llm.data import load_preferences, write_jsonl  # noqa: E402

PLAIN = {"prompt": "Say hi.", "chosen": " Hi, lovely to see you!", "rejected": " Go away."}
CHAT = {"prompt": [{"role": "user", "content": "Say hi."}],
        "chosen": [{"role": "assistant", "content": "Hi!"}],
        "rejected": [{"role": "assistant", "content": "No."}]}


@pytest.mark.parametrize("row", [PLAIN, CHAT])
def test_jsonl_and_saved_dataset_round_trip(tmp_path, row):
    path = tmp_path / "prefs.jsonl"
    write_jsonl(path, [row, {**row, "extra": 1}])
    ds = load_preferences(path)
    assert ds.column_names == ["prompt", "chosen", "rejected"] and len(ds) == 2
    ds.save_to_disk(str(tmp_path / "saved"))
    assert load_preferences(tmp_path / "saved")[0] == row


IMPLICIT = {"chosen": CHAT["prompt"] + CHAT["chosen"],
            "rejected": CHAT["prompt"] + CHAT["rejected"]}


def test_implicit_prompt_is_split_out(tmp_path):
    """UltraFeedback-style rows (trl-lib/ultrafeedback_binarized): the shared leading messages
    become the prompt, from JSONL and from a saved dataset."""
    from datasets import Dataset

    path = tmp_path / "implicit.jsonl"
    write_jsonl(path, [IMPLICIT])
    assert load_preferences(path)[0] == CHAT
    Dataset.from_list([IMPLICIT, IMPLICIT]).save_to_disk(str(tmp_path / "saved"))
    ds = load_preferences(tmp_path / "saved")
    assert ds.column_names == ["prompt", "chosen", "rejected"] and ds[1] == CHAT


@pytest.mark.parametrize("line,needle", [
    (json.dumps({"chosen": CHAT["chosen"], "rejected": CHAT["prompt"]}),
     "share no leading messages"),
    ("{not json", "not valid JSON"),
    (json.dumps({"prompt": "x", "chosen": "y"}), "missing 'rejected'"),
    (json.dumps({**PLAIN, "chosen": "  "}), "'chosen' is empty"),
    (json.dumps({**PLAIN, "chosen": [{"role": "assistant"}]}), "'chosen' must be"),
    (json.dumps({**PLAIN, "chosen": CHAT["chosen"]}), "mixes plain-text"),
    (json.dumps([1, 2]), "not a JSON object"),
])
def test_bad_rows_name_file_and_line(tmp_path, line, needle):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(PLAIN) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=needle) as info:
        load_preferences(path)
    assert str(info.value).startswith(f"{path}:2:")


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such preference file"):
        load_preferences(tmp_path / "nope.jsonl")
