"""scripts/matrix --rerun-failed: the failed cases of a kept junit XML as pytest
node ids, and a rerun's cases merged in place of theirs."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.matrix import failed_ids, load_run, merge_rerun

KEPT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1"
failures="1" skipped="1" tests="4" time="3.0">
<testcase classname="tests.vmcore.test_a" name="test_ok" time="1"/>
<testcase classname="tests.vmcore.test_a" name="test_bad[elf x]" time="1"><failure message="no">x</failure></testcase>
<testcase classname="tests.vmcore.test_b.TestK" name="test_err" time="1"><error message="boom">y</error></testcase>
<testcase classname="tests.vmcore.test_b" name="test_skip" time="0"><skipped message="why"/></testcase>
</testsuite></testsuites>"""

RERUN = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0"
failures="0" skipped="1" tests="2" time="1.0">
<testcase classname="tests.vmcore.test_a" name="test_bad[elf x]" time="1"/>
<testcase classname="tests.vmcore.test_b.TestK" name="test_err" time="1"><skipped message="arm64 only"/></testcase>
</testsuite></testsuites>"""


def test_failed_ids_and_merge(tmp_path: Path) -> None:
    kept, rerun = tmp_path / "linux-image-x.xml", tmp_path / "rerun.xml"
    kept.write_text(KEPT)
    rerun.write_text(RERUN)
    assert failed_ids(kept) == ["tests/vmcore/test_a.py::test_bad[elf x]",
                                "tests/vmcore/test_b.py::TestK::test_err"]
    assert merge_rerun(kept, rerun) == 2
    run = load_run(kept)
    assert [(c.file, c.name, c.outcome) for c in run.cases] == [
        ("tests/vmcore/test_a.py", "test_ok", "passed"),
        ("tests/vmcore/test_a.py", "test_bad[elf x]", "passed"),
        ("tests/vmcore/test_b.py", "test_err", "skipped"),
        ("tests/vmcore/test_b.py", "test_skip", "skipped")]
    assert failed_ids(kept) == []
