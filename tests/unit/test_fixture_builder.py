"""The fixture builder's package logic without the network: the host's archive
from its sources files, the private sources list, both kernel package layouts,
architectures from package names and the newest kernel of a series."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import aptstate, archive
from tests.fixtures.aptstate import PrivateApt, package_arch
from tests.fixtures.debs import kernel_layout
from tests.fixtures.errors import BuildError
from tests.fixtures.resolve import parse_kernel_name, resolve_package

DEB822 = """Types: deb
# a comment
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm
Components: main
Enabled: no
"""


def test_host_archive_deb822(tmp_path: Path) -> None:
    f = tmp_path / "debian.sources"
    f.write_text(DEB822)
    main = archive.host_archive("bookworm", files=[str(f)])
    sec = archive.host_archive("bookworm", security=True, files=[str(f)])
    assert main == archive.Archive("http://deb.debian.org/debian",
                                   "/usr/share/keyrings/debian-archive-keyring.gpg")
    assert sec is not None and sec.uri == "http://deb.debian.org/debian-security"
    assert archive.host_archive("trixie", files=[str(f)]) is None


def test_host_archive_one_line(tmp_path: Path) -> None:
    f = tmp_path / "sources.list"
    f.write_text("deb-src http://src.invalid/debian bookworm main\n"
                 "deb [arch=amd64 signed-by=/k.gpg] http://deb.example/debian/ bookworm main contrib\n"
                 "deb http://deb.example/debian bookworm-security main\n")
    main = archive.host_archive("bookworm", files=[str(f)])
    assert main == archive.Archive("http://deb.example/debian", "/k.gpg")
    sec = archive.host_archive("bookworm", security=True, files=[str(f)])
    assert sec == archive.Archive("http://deb.example/debian", archive.DEFAULT_KEYRING)
    kmemx_file = tmp_path / "kmemx-private.list"
    kmemx_file.write_text("deb http://other.invalid/debian bookworm main\n")
    assert archive.host_archive("bookworm", files=[str(kmemx_file)]) is None


def test_private_sources_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fake(codename: str, security: bool = False) -> archive.Archive:
        return archive.Archive("http://a.invalid/debian" + ("-security" if security else ""),
                               "/nonexistent.gpg")

    monkeypatch.setattr(aptstate, "host_archive", fake)
    text = PrivateApt(tmp_path).sources()
    lines = text.splitlines()
    assert [ln.split()[-2] for ln in lines] == list(aptstate.SUITES)
    assert all(ln.startswith(f"deb [signed-by={archive.DEFAULT_KEYRING}] ") for ln in lines)
    assert "http://a.invalid/debian-security bookworm-security main" in text
    assert "http://a.invalid/debian sid main" in text
    opts = PrivateApt(tmp_path).options()
    assert f"Dir::Etc::SourceList={tmp_path}/sources.list" in opts
    assert "APT::Architectures=amd64,arm64" in opts


def test_private_sources_without_archive(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setattr(aptstate, "host_archive", lambda *a, **kw: None)
    with pytest.raises(BuildError, match="no Debian archive to download kernels from"):
        PrivateApt(tmp_path).sources()


@pytest.mark.parametrize("name,arch", [
    ("linux-image-6.1.0-56-amd64", "amd64"),
    ("linux-image-7.2.13+deb14-cloud-amd64", "amd64"),
    ("linux-image-6.1.0-57-arm64", "arm64"),
    ("linux-image-7.2.13+deb14-arm64-16k-dbg", "arm64"),
    ("linux-image-6.1.0-57-arm64-unsigned", "arm64"),
])
def test_package_arch(name: str, arch: str) -> None:
    assert package_arch(name) == arch


def test_package_arch_unknown() -> None:
    with pytest.raises(BuildError, match="cannot tell its architecture"):
        package_arch("linux-image-6.1.0-57-armmp")


def test_parse_kernel_name() -> None:
    assert parse_kernel_name("linux-image-6.12.117+deb12-amd64") == ("6.12", ".117", "+deb12",
                                                                    "amd64")
    assert parse_kernel_name("linux-image-5.10.0-46-amd64") == ("5.10", ".0-46", "", "amd64")
    assert parse_kernel_name("linux-image-7.2-arm64") == ("7.2", "", "", "arm64")
    assert parse_kernel_name("linux-image-amd64") is None


# Listings as dpkg-deb shows them (abridged from the real packages).
OLD_LAYOUT = [
    "./", "./boot/", "./boot/System.map-6.1.0-57-amd64", "./boot/config-6.1.0-57-amd64",
    "./boot/vmlinuz-6.1.0-57-amd64", "./lib/modules/6.1.0-57-amd64/",
    "./lib/modules/6.1.0-57-amd64/kernel/drivers/net/dummy.ko",
    "./lib/modules/6.1.0-57-amd64/kernel/drivers/firmware/qemu_fw_cfg.ko",
]
NEW_BINARY = ["./", "./usr/lib/modules/7.2.13+deb14-amd64/",
              "./usr/lib/modules/7.2.13+deb14-amd64/vmlinuz"]
NEW_BASE = ["./usr/lib/modules/7.2.13+deb14-amd64/System.map",
            "./usr/lib/modules/7.2.13+deb14-amd64/config",
            "./usr/lib/modules/7.2.13+deb14-amd64/modules.order"]
NEW_MODULES = ["./usr/lib/modules/7.2.13+deb14-amd64/kernel/drivers/net/dummy.ko.xz",
               "./usr/lib/modules/7.2.13+deb14-amd64/kernel/net/9p/9pnet_virtio.ko.xz",
               "./usr/lib/modules/7.2.13+deb14-amd64/kernel/drivers/accessibility/speakup/"
               "speakup_dummy.ko.xz"]


def test_old_layout() -> None:
    deb = Path("linux-image-6.1.0-57-amd64.deb")
    k = kernel_layout({deb: OLD_LAYOUT})
    assert k is not None
    assert k.release == "6.1.0-57-amd64"
    assert (k.vmlinuz, k.config, k.system_map) == (
        "./boot/vmlinuz-6.1.0-57-amd64", "./boot/config-6.1.0-57-amd64",
        "./boot/System.map-6.1.0-57-amd64")
    assert sorted(k.modules) == ["dummy", "qemu_fw_cfg"]
    assert k.members[k.vmlinuz] == deb


def test_new_layout_meta_package() -> None:
    meta = Path("linux-image-7.2.13+deb14-amd64.deb")
    assert kernel_layout({meta: ["./", "./usr/share/doc/x/copyright"]}) is None
    binary, base, mods = Path("binary.deb"), Path("base.deb"), Path("modules.deb")
    k = kernel_layout({meta: ["./"], binary: NEW_BINARY, base: NEW_BASE, mods: NEW_MODULES})
    assert k is not None
    assert k.release == "7.2.13+deb14-amd64"
    assert k.members[k.vmlinuz] == binary
    assert k.config == "./usr/lib/modules/7.2.13+deb14-amd64/config"
    assert k.members[k.config] == base
    assert k.system_map is not None and k.members[k.system_map] == base
    assert k.modules["dummy"].endswith("/net/dummy.ko.xz")
    assert k.members[k.modules["9pnet_virtio"]] == mods


def test_layout_without_config() -> None:
    with pytest.raises(BuildError, match=r"no config-7\.2\.13"):
        kernel_layout({Path("b.deb"): NEW_BINARY})


class _FakeApt(PrivateApt):
    def __init__(self, have: set[str]) -> None:
        super().__init__(Path("/nonexistent"))
        self.have = have

    def update(self, force: bool = False) -> None:
        self._updated = True

    def version(self, package: str, arch: str) -> str | None:
        return "1" if package in self.have and package_arch(package) == arch else None

    def names(self, prefix: str, arch: str) -> list[str]:
        return sorted(n for n in self.have if n.startswith(prefix) and package_arch(n) == arch)


def _with_dbg(*names: str) -> set[str]:
    return set(names) | {n + "-dbg" for n in names}


def test_resolve_series_newest_abi() -> None:
    apt = _FakeApt(_with_dbg("linux-image-5.10.0-9-amd64", "linux-image-5.10.0-46-amd64",
                             "linux-image-5.10.0-46-rt-amd64", "linux-image-5.10.0-46-arm64")
                   | {"linux-image-5.10.0-47-amd64"})  # no -dbg: not usable
    assert resolve_package("linux-image-5.10-amd64", apt) == "linux-image-5.10.0-46-amd64"
    assert resolve_package("linux-image-5.10-arm64", apt) == "linux-image-5.10.0-46-arm64"
    assert resolve_package("linux-image-5.10.0-9-amd64", apt) == "linux-image-5.10.0-9-amd64"
    # a vanished ABI: the newest of its series
    assert resolve_package("linux-image-5.10.0-32-amd64", apt) == "linux-image-5.10.0-46-amd64"


def test_resolve_keeps_the_debian_suffix() -> None:
    apt = _FakeApt(_with_dbg("linux-image-6.12.117+deb12-amd64", "linux-image-6.12.57+deb13-amd64",
                             "linux-image-6.12.9+deb13-amd64", "linux-image-7.2.13+deb14-amd64"))
    assert (resolve_package("linux-image-6.12.1+deb13-amd64", apt)
            == "linux-image-6.12.57+deb13-amd64")
    assert resolve_package("linux-image-6.12-amd64", apt) == "linux-image-6.12.117+deb12-amd64"
    assert resolve_package("linux-image-7.2-amd64", apt) == "linux-image-7.2.13+deb14-amd64"


def test_resolve_errors() -> None:
    apt = _FakeApt(set())
    with pytest.raises(BuildError, match=r"nor any 4\.19 amd64 kernel"):
        resolve_package("linux-image-4.19-amd64", apt)
    with pytest.raises(BuildError, match="not a kernel image package name"):
        resolve_package("linux-headers-6.1.0-57-amd64", apt)


def test_depends_of_a_meta_package(monkeypatch: pytest.MonkeyPatch) -> None:
    show = ("Package: linux-image-7.2.13+deb14-amd64\nVersion: 7.2.13-1\n"
            "Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, "
            "linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 "
            "(= 7.2.13-1), linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1), kmod\n")
    apt = _FakeApt(set())
    monkeypatch.setattr(apt, "_run", lambda *a, **kw: show)
    assert apt.depends("linux-image-7.2.13+deb14-amd64", "amd64") == [
        ("linux-base-7.2.13+deb14-amd64", "7.2.13-1"),
        ("linux-binary-7.2.13+deb14-amd64", "7.2.13-1"),
        ("linux-modules-7.2.13+deb14-amd64", "7.2.13-1"),
        ("kmod", None)]


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="12.5">
<testcase classname="tests.vmcore.test_cli" name="test_ps_matches_manifest[elf]" time="1"/>
<testcase classname="tests.vmcore.test_cli" name="test_slabinfo_rows[kdump]" time="1">
<failure message="AssertionError: no rows&#10;second line">trace</failure></testcase>
<testcase classname="tests.vmcore.test_views" name="test_struct_view" time="1">
<skipped message="variant skipped"/></testcase>
<testcase classname="tests.vmcore.test_views" name="test_command[ps-elf]" time="1"/>
</testsuite></testsuites>
"""


def test_matrix_doc_from_junit(tmp_path: Path) -> None:
    from tests.fixtures import matrix

    xml = tmp_path / "linux-image-9.9.0-1-amd64.xml"
    xml.write_text(JUNIT)
    run = matrix.load_run(xml)
    assert run.package == "linux-image-9.9.0-1-amd64"
    assert [(c.file, c.outcome) for c in run.cases] == [
        ("tests/vmcore/test_cli.py", "passed"), ("tests/vmcore/test_cli.py", "failed"),
        ("tests/vmcore/test_views.py", "skipped"), ("tests/vmcore/test_views.py", "passed")]
    assert run.cases[1].message == "AssertionError: no rows"
    assert matrix.tokens("test_command[ps-elf]") == {"test", "command", "ps", "elf"}
    doc = matrix.render([run], ["ps", "slabinfo", "vm"], crash=False)
    assert "| `ps` | pass 2 |" in doc
    assert "| `slabinfo` | **FAIL 1**/1 |" in doc
    assert "| `vm` | — |" in doc
    assert "| `tests/vmcore/test_views.py` | pass 1 |" in doc
    assert ("- `tests/vmcore/test_cli.py::test_slabinfo_rows[kdump]` (failed): "
            "AssertionError: no rows") in doc
