import builtins
import os

from cyclegan import hostmem


def test_available_is_positive_and_within_the_machine():
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < hostmem.host_available_bytes() <= total


def test_without_proc_meminfo_the_free_pages_are_used(monkeypatch):
    real_open = builtins.open

    def no_meminfo(path, *args, **kwargs):
        if str(path) == "/proc/meminfo":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_meminfo)
    free = hostmem.host_available_bytes()
    assert free is not None and 0 < free <= os.sysconf("SC_PHYS_PAGES") * os.sysconf(
        "SC_PAGE_SIZE")


def test_nothing_readable_is_none(monkeypatch):
    monkeypatch.setattr(builtins, "open", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    monkeypatch.setattr(os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert hostmem.host_available_bytes() is None
