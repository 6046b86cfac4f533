"""The C allocator's setting every process takes at start (core.allocator): large blocks go back when freed."""

import subprocess
import sys
import textwrap

import pytest

from core.allocator import allocator_configure

# Frees eight 1 MB blocks, each with a smaller block (64 KB, from the heap) allocated after it, and prints how much
# RSS that gave back (MB). Once a 4 MB block has been freed, glibc's dynamic threshold serves 1 MB blocks from the
# heap, where the blocks above them keep their pages resident: what a poll reading pages of 1 MB kept of each page.
FREED_AFTER_A_LARGER_BLOCK = textwrap.dedent(
    """
    import sys

    from core.allocator import allocator_configure

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))

    if sys.argv[1] == "configured":
        allocator_configure()
    larger = b"x" * (4 << 20)
    del larger
    blocks, pins = [], []
    for _ in range(8):
        blocks.append(b"x" * (1 << 20))
        pins.append(b"y" * (64 << 10))
    before = rss_mb()
    del blocks
    print(before - rss_mb())
    """
)


def _rss_given_back(mode: str) -> float:
    out = subprocess.run(  # noqa: S603 - this interpreter on a fixed script
        [sys.executable, "-c", FREED_AFTER_A_LARGER_BLOCK, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


@pytest.mark.skipif(not allocator_configure(), reason="glibc's mallopt only")
def test_large_blocks_are_given_back_when_freed_once_configured():
    assert _rss_given_back("configured") > 7
    # Without the setting the same blocks stay resident (the test can fail: it shows what the setting changes).
    assert _rss_given_back("default") < 1


# Frees forty 100 KB blocks from the heap under a smaller block still in use, then prints how much RSS the release
# gave back (MB): what a drain run's batches left free under what the worker still holds.
FREED_UNDER_A_BLOCK_IN_USE = textwrap.dedent(
    """
    import sys

    from core.allocator import allocator_configure, allocator_release

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))

    allocator_configure()
    blocks = [b"x" * (100 << 10) for _ in range(40)]
    pin = b"y" * (64 << 10)
    del blocks
    before = rss_mb()
    if sys.argv[1] == "released":
        allocator_release()
    print(before - rss_mb())
    """
)


@pytest.mark.skipif(not allocator_configure(), reason="glibc's malloc_trim only")
def test_memory_freed_under_a_block_in_use_goes_back_once_released():
    def given_back(mode):
        out = subprocess.run(  # noqa: S603 - this interpreter on a fixed script
            [sys.executable, "-c", FREED_UNDER_A_BLOCK_IN_USE, mode], capture_output=True, text=True, check=True
        )
        return float(out.stdout)

    assert given_back("released") > 3
    assert given_back("kept") < 0.5
