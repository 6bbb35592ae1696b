"""csrc/cpu/parallel.cpp: the kernels' thread pool when the system refuses it threads."""

import resource
import subprocess
import sys
import textwrap

import pytest

# In a child: the result with one thread, then the pool asked for 8 threads under an
# address-space limit with room for STARTED more thread stacks (8 MiB each), so the next
# pthread_create fails with EAGAIN. A pool that lets that std::system_error escape its
# constructor raises "Resource temporarily unavailable" when no worker started, and ends
# the process in std::terminate (a joinable std::thread destroyed) when some did, seen here
# as a hang until the timeout; ours must run with the threads it got and give the same planes.
CHILD = textwrap.dedent("""
    import sys
    import resource
    import torch
    from cyclegan.ops import norm_act_pad

    x = torch.randn(4, 8, 16, 16)
    torch.set_num_threads(1)
    want = norm_act_pad(x, 1)
    torch.set_num_threads(8)
    vm_kib = next(int(line.split()[1]) for line in open("/proc/self/status")
                  if line.startswith("VmSize:"))
    limit = vm_kib * 1024 + (4 << 20) + int(sys.argv[1]) * (8 << 20 | 1 << 16)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    got = norm_act_pad(x, 1)
    print("equal" if torch.equal(got, want) else "differ")
""")


STACK = 8 << 20


def pin_thread_stack() -> None:
    # glibc sizes a new thread's stack by RLIMIT_STACK as the process starts (2 MiB where it
    # is unlimited); pinned to 8 MiB, the child's room for exactly STARTED threads holds on
    # any machine.
    resource.setrlimit(resource.RLIMIT_STACK, (STACK, resource.getrlimit(resource.RLIMIT_STACK)[1]))


@pytest.mark.parametrize("started", [0, 2])
def test_pool_runs_with_the_threads_the_system_gives(started):
    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    if hard != resource.RLIM_INFINITY and hard < STACK:
        pytest.skip(f"the stack limit cannot be raised to 8 MiB here (hard limit {hard})")
    done = subprocess.run([sys.executable, "-c", CHILD, str(started)], capture_output=True,
                          text=True, timeout=60, preexec_fn=pin_thread_stack)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "equal"
