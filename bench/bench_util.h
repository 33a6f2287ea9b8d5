/* What the benchmarks' programs (bench_module_call, bench_startup, and the
 * traffic tools: fwd_gen, fwd_ping, fwd_timeline, udp_echo_load, turn_load)
 * share: dying with a message, and the monotonic clock in ns. Define BENCH_NAME
 * (the program's name, for the messages) before including. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_util.h"
#endif

/* Prints "BENCH_NAME: what: why" on stderr and exits 1 (a benchmark, not a
 * library: nothing to report an error to). */
static inline __attribute__((noreturn)) void die(const char *what, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, why);
	exit(1);
}

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
