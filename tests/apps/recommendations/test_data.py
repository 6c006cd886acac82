import pandas as pd
import pytest

from laketown.apps.recommendations import data
from laketown.apps.recommendations.data import DatasetError


def test_file_with_mapped_columns_is_normalized(tmp_path):
    path = tmp_path / "events.csv"
    pd.DataFrame({"customer": [1, 2], "sku": ["x", "y"], "when": ["2026-01-01", "2026-01-02T10:00:00"],
                  "stars": [4, 5]}).to_csv(path, index=False)
    df = data.load_interactions_file(path, user="customer", item="sku", time="when", rating="stars")
    assert df.columns.tolist() == ["user_id", "item_id", "timestamp", "event_type", "value"]
    assert df.user_id.tolist() == ["1", "2"] and df.timestamp.iloc[0] == 1767225600 and df.value.tolist() == [4.0, 5.0]


def test_errors_name_the_column_and_rows(tmp_path):
    with pytest.raises(DatasetError, match="no column 'user'.*columns: a, b"):
        data.load_interactions_file(_csv(tmp_path, {"a": [1], "b": [2]}), user="user")
    bad = pd.DataFrame({"user_id": ["u", None, "w"], "item_id": ["i", "j", "k"]})
    with pytest.raises(DatasetError, match="'user_id' is empty in rows 1"):
        data.validate_interactions(bad)
    bad_time = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["i", "j"], "timestamp": ["2026-01-01", "soon"]})
    with pytest.raises(DatasetError, match="'timestamp'.*rows 1 \\(e.g. 'soon'\\)"):
        data.validate_interactions(bad_time)
    with pytest.raises(DatasetError, match="duplicates in rows 0, 2"):
        data.validate_items(pd.DataFrame({"item_id": ["a", "b", "a"]}))


def test_dataset_round_trips_through_the_lake(ws):
    from laketown.apps.recommendations import retail

    ds = retail.generate(n_users=30, n_items=20)
    written = data.write_to_lake(ws, ds)
    assert written["raw.recs_interactions"] == len(ds.interactions)
    back = data.from_lake(ws)
    assert len(back.interactions) == len(ds.interactions) and len(back.items) == 20


def _csv(tmp_path, cols):
    p = tmp_path / "x.csv"
    pd.DataFrame(cols).to_csv(p, index=False)
    return p
