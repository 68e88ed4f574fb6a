/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * core-latency: how long a cache line takes to go from one CPU to another and
 * back, now, on this machine.
 *
 *   core-latency [ROUND_TRIPS] [SAMPLES]
 *
 * Two threads, pinned to the first two CPUs this process may use, pass a
 * counter back and forth ROUND_TRIPS times (default 50000) after a warm-up; prints
 * "round_trip_ns=<n>" once per sample (default 3).  Every hand-off between a
 * source's thread, a worker and a writer pays this for each cache line the
 * message and its counters occupy.  On a virtual machine it is not a
 * constant: the hypervisor may place the two virtual CPUs on cores that share
 * a cache one second and on cores that do not the next (on this project's
 * 2-core machine: 50-60 ns and 320-960 ns, for seconds at a time), which is why
 * make bench records it beside every run.  Prints "round_trip_ns=nan" where
 * fewer than two CPUs are usable.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) atomic_long ball;
static long round_trips;
static int cpus[2];

static void
_pin(int cpu)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* round trips before the clock starts: the other thread is started, pinned and spinning, and
 * both virtual CPUs are awake (a halted one takes microseconds to wake) */
#define WARM_UP 20000

static void *
_returner(void *arg)
{
  _pin(cpus[1]);
  for (long i = 0; i < WARM_UP + round_trips; i++)
    {
      while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 1)
        ;
      atomic_store_explicit(&ball, 2 * i + 2, memory_order_release);
    }
  return arg;
}

static double
_sample(void)
{
  struct timespec start, end;
  pthread_t thread;

  atomic_store(&ball, 0);
  if (pthread_create(&thread, NULL, _returner, NULL) != 0)
    return -1;
  for (long i = 0; i < WARM_UP + round_trips; i++)
    {
      if (i == WARM_UP)
        clock_gettime(CLOCK_MONOTONIC, &start);
      atomic_store_explicit(&ball, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 2)
        ;
    }
  clock_gettime(CLOCK_MONOTONIC, &end);
  pthread_join(thread, NULL);
  return ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / round_trips;
}

int
main(int argc, char **argv)
{
  cpu_set_t allowed;
  int found = 0;

  round_trips = argc > 1 ? atol(argv[1]) : 50000;
  int samples = argc > 2 ? atoi(argv[2]) : 3;
  if (round_trips < 1 || samples < 1)
    {
      fprintf(stderr, "usage: core-latency [ROUND_TRIPS] [SAMPLES]\n");
      return 2;
    }
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
      if (CPU_ISSET(cpu, &allowed))
        cpus[found++] = cpu;
  if (found < 2)
    {
      for (int s = 0; s < samples; s++)
        printf("round_trip_ns=nan\n");
      return 0;
    }
  _pin(cpus[0]);
  for (int s = 0; s < samples; s++)
    {
      double ns = _sample();
      if (ns < 0)
        {
          fprintf(stderr, "core-latency: cannot start a thread\n");
          return 1;
        }
      printf("round_trip_ns=%.0f\n", ns);
    }
  return 0;
}
