"""What grading on a Dask cluster costs over the local pool, and what a cohort takes on more cores.

    python benchmarks/cluster_scaling.py [--n 16] [--cohort 1500]

Grades the same N corpus submissions three times: with `labkit grade -j 2` (the local pool), and
on a LocalCluster of one and of two worker processes (one thread each), through the same
`grade_batch`. Checks that every submission gets the same total each way, then prints the wall
times, the cluster's cost over the local pool at equal parallelism, the measured CPU seconds per
submission, and the wall time projected for a cohort on 8, 32 and 128 worker cores.
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grading_throughput import CORPUS, ROOT, ZIP  # the same batch as the throughput benchmark

CORES = (8, 32, 128)


def children_cpu_seconds() -> float:
    """CPU seconds used so far by this process's finished children (the graders)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def totals_of(gradebook: Path) -> dict[str, float]:
    """Each submission's total in a gradebook."""
    import csv

    with gradebook.open(newline="") as f:
        return {row["submission"]: float(row["total"]) for row in csv.DictReader(f)}


def local_pool(inbox: Path, out: Path, jobs: int) -> tuple[float, float]:
    """Grade with `labkit grade -j JOBS`; return its wall and CPU seconds."""
    command = [sys.executable, "-m", "labkit", "grade", str(inbox), "-a", str(ZIP), "-o", str(out)]
    cpu = children_cpu_seconds()
    started = time.perf_counter()
    subprocess.run([*command, "-j", str(jobs)], check=True, capture_output=True)
    return time.perf_counter() - started, children_cpu_seconds() - cpu


def on_cluster(inbox: Path, out: Path, workers: int) -> float:
    """Grade on a fresh LocalCluster of ``workers`` one-thread processes; return the wall time
    of the batch (the cluster's start excluded: a real cluster is up before grading)."""
    from distributed import Client, LocalCluster

    from labkit.batch import grade_batch

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(workers)
        started = time.perf_counter()
        grade_batch([inbox], autograder=ZIP, output_dir=out, scheduler=client, progress=False)
        return time.perf_counter() - started


def main() -> None:
    """Run the three, compare the totals, print the figures and the projection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="submissions to grade (default 16)")
    parser.add_argument("--cohort", type=int, default=1500, help="submissions to project for")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        for k, name in zip(range(args.n), itertools.cycle(CORPUS)):
            source = ROOT / "tests" / "submissions" / f"{name}.ipynb"
            shutil.copy(source, inbox / f"{k:02d}_{name}.ipynb")
        local_seconds, local_cpu = local_pool(inbox, Path(tmp) / "local", jobs=2)
        cluster_seconds = {w: on_cluster(inbox, Path(tmp) / f"cluster{w}", w) for w in (1, 2)}
        totals = {
            way: totals_of(Path(tmp) / way / "gradebook.csv")
            for way in ("local", "cluster1", "cluster2")
        }
    if any(found != totals["local"] for found in totals.values()):
        sys.exit(f"the totals differ between the local pool and the cluster: {totals}")
    per_submission = local_cpu / args.n
    print(f"{args.n} submissions, the same totals all three ways")
    print(f"local pool (labkit grade -j 2): {local_seconds:7.1f} s")
    for workers, seconds in cluster_seconds.items():
        print(f"LocalCluster, {workers} worker(s):  {seconds:7.1f} s")
    ratio = cluster_seconds[2] / local_seconds
    print(f"cluster (2 workers) / local pool (2 slots): {ratio:.2f}")
    print(f"scaling from 1 to 2 workers: {cluster_seconds[1] / cluster_seconds[2]:.2f}x")
    print(f"CPU per submission (local pool, graders included): {per_submission:.1f} s")
    wall_per_submission = cluster_seconds[1] / args.n  # one worker: one submission at a time
    print(f"wall per submission on one worker: {wall_per_submission:.1f} s")
    for cores in CORES:
        rounds = math.ceil(args.cohort / cores)
        print(
            f"projected for {args.cohort} submissions on {cores:3d} worker cores: "
            f"{rounds * wall_per_submission / 60:6.1f} min"
        )


if __name__ == "__main__":
    main()
